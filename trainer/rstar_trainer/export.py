"""Export a policy or PPM to an ONNX model dir with the Optimum / Transformers.js I/O names.

Inputs:  input_ids int64 [batch, seq], attention_mask int64 [batch, past+seq],
         position_ids int64 [batch, seq],
         past_key_values.{i}.key / .value float32 [batch, kv_heads, past, head_dim]
Outputs: logits [batch, seq, vocab]          (policy, kind "logits")
         last_hidden_state [batch, seq, hidden] (PPM, kind "hidden"; head -> ppm_head.json)
         score [batch, seq] = raw r           (PPM, kind "score")
         then the cache, one of two ways (kv):
         "concat":   present.{i}.key / .value [batch, kv_heads, past+seq, head_dim]: the past
                     and the new positions (Optimum's convention);
         "in-place": new_key_values.{i}.key / .value [batch, kv_heads, seq, head_dim]: the
                     new positions only. The caller keeps the cache and writes them into it,
                     so a decode step on a preallocated cache (past = its capacity, the
                     unused positions masked) copies none of it: ONNX Runtime hands every
                     output back as a fresh copy, and concatenating copies the past again.
An empty past ([batch, kv_heads, 0, head_dim]) works at run time for the first call.

Beside model.onnx, a model dir gets model.safetensors: the same weights by their state_dict
names (Hugging Face's), float32, which the engine's own CPU kernels run
(native/include/rstar/decoder.hpp) without ONNX Runtime.
"""
import json
import os

import onnx
import torch
from torch import nn

from . import tokenizer
from .model import RstarForCausalLM, RstarPPM


class _Wrapper(nn.Module):
    """Flat positional inputs/outputs for tracing."""

    def __init__(self, model, kind, kv):
        super().__init__()
        self.model, self.kind, self.new_only = model, kind, kv == "in-place"

    def forward(self, input_ids, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(len(past_flat) // 2)]
        out, hidden, presents = self.model(input_ids, attention_mask, position_ids, past, self.new_only)
        first = hidden if self.kind == "hidden" else out
        return (first,) + tuple(t for kv in presents for t in kv)


KV_KINDS = ("concat", "in-place")


def io_names(config, kind, kv="concat"):
    n = config.num_hidden_layers
    past = [f"past_key_values.{i}.{w}" for i in range(n) for w in ("key", "value")]
    present = [f"{'present' if kv == 'concat' else 'new_key_values'}.{i}.{w}" for i in range(n) for w in ("key", "value")]
    first = {"logits": "logits", "hidden": "last_hidden_state", "score": "score"}[kind]
    inputs = ["input_ids", "attention_mask", "position_ids"] + past
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "past+seq"},
            "position_ids": {0: "batch", 1: "seq"}, first: {0: "batch", 1: "seq"}}
    axes.update({p: {0: "batch", 2: "past"} for p in past})
    axes.update({p: {0: "batch", 2: "past+seq" if kv == "concat" else "seq"} for p in present})
    return inputs, [first] + present, axes


def export_onnx(model, path, kind, kv="concat", opsets=(17, 14)):
    """Trace with batch 2, seq 3 and a NON-EMPTY past (2) so no shape is baked in.
    Returns the opset used."""
    c = model.config
    model.eval()
    B, T, P = 2, 3, 2
    ids = torch.randint(4, c.vocab_size, (B, T))
    mask = torch.ones(B, P + T, dtype=torch.long)
    pos = torch.arange(P, P + T).unsqueeze(0).expand(B, T).contiguous()
    past = [torch.randn(B, c.num_key_value_heads, P, c.head_dim) for _ in range(2 * c.num_hidden_layers)]
    inputs, outputs, axes = io_names(c, kind, kv)
    last_err = None
    for opset in opsets:
        try:
            with torch.no_grad():
                torch.onnx.export(_Wrapper(model, kind, kv), (ids, mask, pos, *past), path,
                                  input_names=inputs, output_names=outputs, dynamic_axes=axes,
                                  opset_version=opset, do_constant_folding=True)
            onnx.checker.check_model(onnx.load(path))
            return opset
        except Exception as e:  # try the next opset
            last_err = e
    raise last_err


def save_safetensors(model, path):
    """The model's weights in the safetensors format (an 8-byte little-endian header size, a
    JSON header of name -> dtype, shape, byte offsets, then the raw tensors), written to a
    temporary file and renamed. The header is padded to 8 bytes so every tensor is aligned."""
    header, blobs, offset = {}, [], 0
    for name, t in model.state_dict().items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_model_dir(model, out_dir, ppm_output=None, kv="concat"):
    """model.onnx + model.safetensors + config.json + tokenizer.json (+ ppm_head.json for a
    "hidden" PPM).
    ppm_output: None for a policy, "hidden" or "score" for a PPM, "reviewer" for a language
    model that scores as a PPM (logits like a policy). kv: how the cache comes back (see
    the module doc). Returns the opset."""
    assert kv in KV_KINDS, f"kv must be one of {KV_KINDS}"
    os.makedirs(out_dir, exist_ok=True)
    if isinstance(model, RstarPPM):
        assert ppm_output in ("hidden", "score"), "a PPM needs ppm_output='hidden'|'score'"
        kind = ppm_output
    else:
        assert isinstance(model, RstarForCausalLM) and ppm_output in (None, "reviewer")
        kind = "logits"
    opset = export_onnx(model, os.path.join(out_dir, "model.onnx"), kind, kv)
    save_safetensors(model, os.path.join(out_dir, "model.safetensors"))
    model.config.save(os.path.join(out_dir, "config.json"), ppm_output)
    tokenizer.save_tokenizer_json(os.path.join(out_dir, "tokenizer.json"))
    if kind == "hidden":  # inference score = tanh((h . weight + bias) / 5)
        head = model.value_head
        with open(os.path.join(out_dir, "ppm_head.json"), "w") as f:
            json.dump({"hidden_size": model.config.hidden_size,
                       "weight": head.weight.detach()[0].tolist(),
                       "bias": float(head.bias.detach()[0])}, f)
            f.write("\n")
    return opset


def main(argv=None):
    """Re-exports a model dir's weights (pytorch_model.bin) with the other cache kind, and
    writes its model.safetensors:
    /usr/bin/python3 -m rstar_trainer.export --from DIR [--out DIR2] --kv in-place|concat
    /usr/bin/python3 -m rstar_trainer.export --from DIR [--out DIR2] --safetensors-only
    Everything else in the dir is kept (copied to --out first when given)."""
    import argparse
    import shutil
    import warnings

    from .model import RstarConfig

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--from", dest="src", required=True, help="model dir with config.json and pytorch_model.bin")
    ap.add_argument("--out", help="write here instead of over --from's model.onnx")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--kv", choices=KV_KINDS)
    what.add_argument("--safetensors-only", action="store_true", help="keep model.onnx; write model.safetensors")
    a = ap.parse_args(argv)
    weights = os.path.join(a.src, "pytorch_model.bin")
    if not os.path.isfile(weights):
        raise SystemExit(f"export: {weights} is missing (the weights to export)")
    with open(os.path.join(a.src, "config.json")) as f:
        declared = (json.load(f).get("rstar_ppm") or {}).get("output")
    c = RstarConfig.load(os.path.join(a.src, "config.json"))
    model = RstarPPM(c) if declared in ("hidden", "score") else RstarForCausalLM(c)
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    out = a.out or a.src
    if out != a.src:
        shutil.copytree(a.src, out, dirs_exist_ok=True)
    save_safetensors(model, os.path.join(out, "model.safetensors"))
    if a.safetensors_only:
        print(f"export: {out}/model.safetensors")
        return
    tmp = os.path.join(out, "model.onnx.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints: expected
        opset = export_onnx(model.eval(), tmp, declared if declared in ("hidden", "score") else "logits", a.kv)
    os.replace(tmp, os.path.join(out, "model.onnx"))
    print(f"export: {out}/model.onnx (opset {opset}, {a.kv} cache)")


if __name__ == "__main__":
    main()
