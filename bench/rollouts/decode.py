# trainer/rollout_pairs.py's decode step against model.py's forward with a KV cache, on the
# shipped policy's shape: one new token for each of ROWS rows on a PAST-token cache. Prints
# ms per step for each and the ratio (same process, same weights, same inputs).
#
#   /usr/bin/python3 bench/rollouts/decode.py [--rows 128] [--past 500] [--bf16] [--steps 10]
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "trainer"))
import rollout_pairs as rp  # noqa: E402
from rstar_trainer.model import RstarConfig, RstarForCausalLM  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", default="models/policy")
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--past", type=int, default=500)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = RstarConfig.load(os.path.join(a.policy, "config.json"))
    model = RstarForCausalLM(c).eval()
    model.load_state_dict(torch.load(os.path.join(a.policy, "pytorch_model.bin"), map_location="cpu"))
    g = torch.Generator().manual_seed(0)
    R, L = a.rows, a.past
    past = [(torch.randn(R, c.num_key_value_heads, L, c.head_dim, generator=g),
             torch.randn(R, c.num_key_value_heads, L, c.head_dim, generator=g)) for _ in range(c.num_hidden_layers)]
    tok = torch.randint(11, 100, (R,), generator=g)
    pos = torch.full((R,), L)
    ms = {}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
        mask = torch.ones(R, L + 1, dtype=torch.long)
        model(tok[:, None], mask, pos[:, None], past)
        t = time.perf_counter()
        for _ in range(a.steps):
            want = model(tok[:, None], mask, pos[:, None], past)[0][:, 0]
        ms["model.py forward"] = (time.perf_counter() - t) / a.steps * 1000
        maskadd = torch.zeros(R, 1, L + 1)
        cache = rp.Cache(c, past, L + 1)
        t = time.perf_counter()
        for _ in range(a.steps):
            cache.len = L  # the same step again: it writes slot L
            got = rp.decode_step(model, cache, tok, pos, maskadd)
        ms["rollout_pairs decode_step"] = (time.perf_counter() - t) / a.steps * 1000
    diff = float((got.float() - want.float()).abs().max())
    print(f"{R} rows, {L} cached tokens, {'bf16' if a.bf16 else 'fp32'}, {a.threads} threads; max |logit diff| {diff:.2e}")
    for k, v in ms.items():
        print(f"  {k:28s} {v:8.1f} ms/step")
    print(f"  ratio {ms['model.py forward'] / ms['rollout_pairs decode_step']:.1f}x")


if __name__ == "__main__":
    main()
