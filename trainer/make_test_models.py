#!/usr/bin/python3
"""Write random-weight test model dirs + reference.json for the TypeScript tests.

  /usr/bin/python3 trainer/make_test_models.py --out test/fixtures/models

creates OUT/policy, OUT/ppm-hidden, OUT/ppm-score (ONNX model dirs, see README.md) and
OUT/reference.json: greedy paths and PPM scores computed by torch WITHOUT a KV cache (a
plain full forward per step), for ORT to be compared against. The two PPM dirs are the
SAME weights exported two ways, so their raw scores agree. OUT/policy-in-place and
OUT/ppm-score-in-place are policy and ppm-score again with the in-place cache outputs
(rstar_trainer/export.py).
"""
import argparse
import copy
import json
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the working tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from rstar_trainer import tokenizer  # noqa: E402
from rstar_trainer.export import save_model_dir  # noqa: E402
from rstar_trainer.model import RstarConfig, RstarForCausalLM, RstarPPM  # noqa: E402

GREEDY_NEW = 24
PROMPTS = [
    "7",
    "What is 2 + 3?",
    "Q?\n\n<code>\n# Step 1: x\nx = 2\n<end_of_step>",
    "  two  spaces\tand a tab ",
    "<output>5<end_of_output>\n<answer>\\boxed{5}<end_of_answer>",
    ("Tom has 12 apples. He gives 3 apples to each of his 2 friends and then buys 7 more "
     "apples at the market. How many apples does Tom have now?\n\n<code>\n# Step 1: apples "
     "given away\ngiven = 3 * 2\n<end_of_step>\n# Step 2: apples left\nleft = 12 - given\n"
     "<end_of_step>\n# Step 3: after buying\ntotal = left + 7\nprint(total)\n<end_of_code>\n"),
]
PPM_TEXTS = [
    "x",
    "What is 2 + 3?\n\n<code>\nprint(2 + 3)\n<end_of_code>\n<output>5<end_of_output>",
    "Q?\n\n<code>\n# Step 1: x\nx = 2\n<end_of_step>",
    "<answer>\\boxed{11}<end_of_answer>",
]


def init_peaked(model, seed):
    """Random weights whose logits are peaked: greedy decoding then has clear top1-top2
    margins and is not flipped by ~1e-6 float differences between torch and ORT. Hidden
    layers use std 1/sqrt(fan_in) so attention matters (a KV-cache bug shows in the logits)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("embed_tokens.weight"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif name == "lm_head.weight":
                p.copy_(torch.randn(p.shape, generator=g) * 1.0)  # logits std ~ sqrt(H)
            elif "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name == "value_head.bias":
                p.fill_(0.1)
            else:  # Linear weights
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    return model.eval()


def full(model, ids):
    """No-cache forward of one sequence: positions 0..n-1, all attended."""
    t = torch.tensor([ids])
    n = len(ids)
    return model(t, torch.ones(1, n, dtype=torch.long), torch.arange(n).unsqueeze(0))


def greedy(policy, ids, steps):
    ids, new, margin = list(ids), [], float("inf")
    for _ in range(steps):
        logits = full(policy, ids)[0][0, -1]
        top = torch.topk(logits, 2).values
        margin = min(margin, float(top[0] - top[1]))
        nxt = int(logits.argmax())
        ids.append(nxt)
        new.append(nxt)
    return new, margin


def check_cache(model, ids, tol=1e-5):
    """Prefill half, then one token at a time with the KV cache == no-cache forward."""
    ref = full(model, ids)[0][0]
    n, h = len(ids), len(ids) // 2
    out, _, past = model(torch.tensor([ids[:h]]), torch.ones(1, h, dtype=torch.long),
                         torch.arange(h).unsqueeze(0))
    outs = [out[0]]
    for i in range(h, n):
        out, _, past = model(torch.tensor([[ids[i]]]), torch.ones(1, i + 1, dtype=torch.long),
                             torch.tensor([[i]]), past)
        outs.append(out[0])
    diff = float((torch.cat(outs) - ref).abs().max())
    assert diff <= tol, f"KV cache vs no cache differ by {diff}"
    return diff


def check_masked_gap(model, a, b, extra, tol=1e-5):
    """Batch [a, b] where b is shorter: b's prefill is right-padded, so after decoding
    `extra` its cache has a masked GAP in the middle. b's rows must equal b alone."""
    assert len(b) < len(a)
    L = len(a)
    ids = torch.tensor([a, b + [tokenizer.PAD_ID] * (L - len(b))])
    mask = torch.tensor([[1] * L, [1] * len(b) + [0] * (L - len(b))])
    pos = torch.tensor([list(range(L)), list(range(L))])  # padded positions: anything
    out, _, past = model(ids, mask, pos)
    got = [out[1, :len(b)]]
    for j, tok in enumerate(extra):
        mask = torch.cat([mask, torch.ones(2, 1, dtype=torch.long)], dim=1)
        pos = torch.tensor([[L + j], [len(b) + j]])
        out, _, past = model(torch.tensor([[tok], [tok]]), mask, pos, past)
        got.append(out[1])
    ref = full(model, b + extra)[0][0]
    diff = float((torch.cat(got) - ref).abs().max())
    assert diff <= tol, f"masked gap vs unpadded differ by {diff}"
    return diff


def check_all(model, ids):
    """The logic in float64 (to 1e-5; really ~1e-12), float32 numerics to 1e-4 (logits
    here reach ~20, so float32 rounding alone is a few 1e-6)."""
    for m, tol in ((copy.deepcopy(model).double(), 1e-5), (model, 1e-4)):
        d1 = check_cache(m, ids, tol)
        d2 = check_masked_gap(m, ids[:40], ids[:13], ids[13:20], tol)
        print(f"  {str(next(m.parameters()).dtype):14s} {d1:.1e} / {d2:.1e}")


def floats(t):
    return [float(x) for x in t.reshape(-1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output dir (e.g. test/fixtures/models)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=8)
    ap.add_argument("--intermediate", type=int, default=64)
    args = ap.parse_args()

    torch.manual_seed(args.seed)  # fixes the trace inputs in export too
    torch.set_num_threads(2)
    cfg = RstarConfig(hidden_size=args.hidden, num_hidden_layers=args.layers,
                      num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
                      head_dim=args.head_dim, intermediate_size=args.intermediate)
    policy = init_peaked(RstarForCausalLM(cfg), args.seed)
    ppm = init_peaked(RstarPPM(cfg), args.seed + 1)

    with torch.no_grad():
        long_ids = tokenizer.encode(PROMPTS[-1])
        for m in (policy, ppm):
            print(f"{type(m).__name__}: cache vs no cache / masked gap vs unpadded, max abs diff:")
            check_all(m, long_ids)

        ref = {"format": 1,
               "note": "torch, no KV cache; ids fed exactly as listed (no BOS), positions 0..n-1, "
                       "all attended; greedy runs 24 steps with no early stop; ppm-hidden and "
                       "ppm-score are the same weights",
               "greedy": [], "ppm": []}
        for p in PROMPTS:
            ids = tokenizer.encode(p)
            assert tokenizer.decode(ids) == p
            new, margin = greedy(policy, ids, GREEDY_NEW)
            first = full(policy, ids)[0][0, -1]
            ref["greedy"].append({"prompt": p, "prompt_ids": ids, "new_ids": new,
                                  "first_logits": floats(first), "margin": margin})
            print(f"greedy len {len(ids):3d}: margin {margin:.4f} -> {tokenizer.decode(new)!r}")
        for t in PPM_TEXTS:
            ids = tokenizer.encode(t)
            raw, h, _ = full(ppm, ids)
            ref["ppm"].append({"text": t, "ids": ids, "raw": floats(raw[0]),
                               "last_hidden": floats(h[0, -1])})
        ref["min_margin"] = min(c["margin"] for c in ref["greedy"])

    os.makedirs(args.out, exist_ok=True)
    opsets = {
        "policy": save_model_dir(policy, os.path.join(args.out, "policy")),
        "ppm-hidden": save_model_dir(ppm, os.path.join(args.out, "ppm-hidden"), "hidden"),
        "ppm-score": save_model_dir(ppm, os.path.join(args.out, "ppm-score"), "score"),
        # the same weights again, exported to return only the new positions' cache
        "policy-in-place": save_model_dir(policy, os.path.join(args.out, "policy-in-place"), kv="in-place"),
        "ppm-score-in-place": save_model_dir(ppm, os.path.join(args.out, "ppm-score-in-place"), "score", kv="in-place"),
    }
    with torch.no_grad():  # the score model's raw r for the same texts (same weights)
        for case in ref["ppm"]:
            case["score_raw"] = floats(full(ppm, case["ids"])[0][0])
    ref["opset"] = opsets["policy"]
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")

    print(f"min greedy margin {ref['min_margin']:.4f}; opsets {opsets}")
    total = 0
    for root, _, files in sorted(os.walk(args.out)):
        for name in sorted(files):
            size = os.path.getsize(os.path.join(root, name))
            total += size
            print(f"{size:9d}  {os.path.relpath(os.path.join(root, name), args.out)}")
    print(f"{total:9d}  total")


if __name__ == "__main__":
    main()
