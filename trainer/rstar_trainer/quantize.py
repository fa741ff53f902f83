"""int8 weights for a model dir's ONNX graph (dynamic quantization, as ONNX Runtime's
quantize_dynamic does it, written out here because onnxruntime's Python package is not one of
Debian's): every MatMul whose weight is a 2-D float initializer becomes ONNX Runtime's
DynamicQuantizeMatMul (com.microsoft), with the weight in int8, symmetric, one scale per
output column; the activations are quantized per call. The attention's MatMuls (activations
on both sides) stay float.

  cd trainer && /usr/bin/python3 -m rstar_trainer.quantize --from DIR --out DIR2

Everything else in the dir is copied; config.json gets "rstar_weights": "int8 per column".
"""
import argparse
import json
import os
import shutil

import numpy as np
import onnx
from onnx import helper, numpy_helper


def quantize_graph(model):
    """Rewrites the graph in place; returns how many MatMuls were quantized."""
    g = model.graph
    weights = {i.name: i for i in g.initializer}
    count = 0
    for node in list(g.node):
        if node.op_type != "MatMul" or node.input[1] not in weights:
            continue
        w = numpy_helper.to_array(weights[node.input[1]])
        if w.ndim != 2 or w.dtype != np.float32:
            continue
        scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0  # [N]
        q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        base = node.input[1]
        g.initializer.extend([numpy_helper.from_array(q, base + "/int8"),
                              numpy_helper.from_array(scale.astype(np.float32), base + "/scale"),
                              numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), base + "/zero")])
        new = helper.make_node("DynamicQuantizeMatMul", [node.input[0], base + "/int8", base + "/scale", base + "/zero"],
                               list(node.output), name=(node.name or base) + "/int8", domain="com.microsoft")
        at = list(g.node).index(node)
        g.node.remove(node)
        g.node.insert(at, new)
        count += 1
    used = {i for n in g.node for i in n.input}
    for init in list(g.initializer):
        if init.name not in used:
            g.initializer.remove(init)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return count


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="src", required=True, help="model dir (model.onnx, config.json, tokenizer.json)")
    ap.add_argument("--out", required=True, help="the int8 model dir to write")
    a = ap.parse_args(argv)
    if os.path.abspath(a.src) == os.path.abspath(a.out):
        raise SystemExit("quantize: --out must be another dir than --from")
    shutil.copytree(a.src, a.out, dirs_exist_ok=True)
    model = onnx.load(os.path.join(a.src, "model.onnx"))
    count = quantize_graph(model)
    onnx.save(model, os.path.join(a.out, "model.onnx"))
    path = os.path.join(a.out, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["rstar_weights"] = "int8 per column"
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"quantize: {count} MatMuls to int8; {a.out}/model.onnx {os.path.getsize(os.path.join(a.out, 'model.onnx')):,} bytes")


if __name__ == "__main__":
    main()
