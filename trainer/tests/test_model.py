"""Unit tests for rstar_trainer (seconds). Run from the repo root with Debian's python:

  /usr/bin/python3 -m unittest discover -s trainer/tests -v

Torch tests skip, saying why, where torch/onnx are missing (the pyenv python3 on PATH).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
TRAINER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TRAINER)
sys.path.insert(0, TRAINER)

from rstar_trainer import tokenizer  # noqa: E402

try:
    import onnx
    import torch

    from make_test_models import check_cache, check_masked_gap, init_peaked
    from rstar_trainer.export import save_model_dir
    from rstar_trainer.model import RstarConfig, RstarForCausalLM, RstarPPM
    NO_TORCH = None
except ImportError as e:
    NO_TORCH = f"needs torch + onnx ({e}); run with /usr/bin/python3 after apt-get install python3-torch python3-onnx"

SAMPLES = [
    "", " ", "  a  ", "\n\t", "What is 2 + 3?",
    "Q?\n\n<code>\n# Step 1: x\nx = 2\n<end_of_step>",
    "x<answer>42<end_of_answer>  ", "<end_of_step><end_of_step>", "<end_of_answe", "<<code>>",
    "<output>5<end_of_output>\n<end_of_code>", "<bos>a<eos><pad>",
]


class TokenizerTest(unittest.TestCase):
    def test_round_trip(self):
        for s in SAMPLES:
            self.assertEqual(tokenizer.decode(tokenizer.encode(s)), s)

    def test_ids(self):
        self.assertEqual(tokenizer.VOCAB[:4], ["<pad>", "<unk>", "<bos>", "<eos>"])
        self.assertEqual(tokenizer.VOCAB_SIZE, 4 + 7 + 2 + 95)
        for t in tokenizer.STEP_TOKENS:
            self.assertEqual(len(tokenizer.encode(t)), 1)
        self.assertEqual(tokenizer.encode("a<code>b"), [tokenizer.TOKEN_TO_ID[x] for x in ("a", "<code>", "b")])
        self.assertEqual(tokenizer.encode("é😀"), [tokenizer.UNK_ID] * 2)

    def test_json_vocab_matches(self):
        j = tokenizer.tokenizer_json()
        self.assertEqual(j["model"]["vocab"], tokenizer.TOKEN_TO_ID)
        for a in j["added_tokens"]:
            self.assertEqual(tokenizer.TOKEN_TO_ID[a["content"]], a["id"])

    def test_node_tokenizers_identical(self):
        """The npm `tokenizers` package must encode/decode tokenizer.json identically."""
        if not shutil.which("node") or not os.path.isdir(os.path.join(REPO, "node_modules", "tokenizers")):
            self.skipTest("needs node and node_modules/tokenizers in the repo")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "tokenizer.json")
            tokenizer.save_tokenizer_json(path)
            cases = SAMPLES + ["é😀 x", "\t<answer>\t"]
            js = """
const { Tokenizer } = require('tokenizers');
(async () => {
  const tok = Tokenizer.fromFile(process.argv[1]);
  const out = [];
  for (const s of JSON.parse(process.argv[2])) {
    const ids = Array.from((await tok.encode(s, null, { addSpecialTokens: false })).getIds());
    out.push({ ids, dec: await tok.decode(ids, false) });
  }
  console.log(JSON.stringify(out));
})();"""
            r = subprocess.run(["node", "-e", js, path, json.dumps(cases)], cwd=REPO,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            for s, got in zip(cases, json.loads(r.stdout)):
                ids = tokenizer.encode(s)
                self.assertEqual(got["ids"], ids, repr(s))
                self.assertEqual(got["dec"], tokenizer.decode(ids), repr(s))


def read_json(*parts):
    with open(os.path.join(*parts)) as f:
        return json.load(f)


def tiny_config():
    return RstarConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=4, intermediate_size=32)


IDS = tokenizer.encode("Q?\n\n<code>\n# Step 1: x\nx = 2\n<end_of_step>\n# Step 2")


@unittest.skipIf(NO_TORCH, NO_TORCH)
class ModelTest(unittest.TestCase):
    def models(self):
        torch.manual_seed(0)
        return [init_peaked(RstarForCausalLM(tiny_config()), 1), init_peaked(RstarPPM(tiny_config()), 2)]

    def test_cache_equals_no_cache(self):
        with torch.no_grad():
            for m in self.models():
                check_cache(m.double(), IDS, 1e-9)

    def test_masked_gap_equals_unpadded(self):
        with torch.no_grad():
            for m in self.models():
                check_masked_gap(m.double(), IDS[:20], IDS[:7], IDS[7:12], 1e-9)

    def test_cache_detects_a_wrong_position(self):
        """Guard the guard: attention must matter enough for a cache bug to show."""
        m = self.models()[0]
        with torch.no_grad():
            n = len(IDS)
            a = m(torch.tensor([IDS]), torch.ones(1, n, dtype=torch.long), torch.arange(n).unsqueeze(0))[0]
            # RoPE is relative: shifting ALL positions changes nothing, moving one does.
            shifted = m(torch.tensor([IDS]), torch.ones(1, n, dtype=torch.long), torch.arange(7, n + 7).unsqueeze(0))[0]
            pos = torch.arange(n).unsqueeze(0)
            pos[0, -1] += 3
            b = m(torch.tensor([IDS]), torch.ones(1, n, dtype=torch.long), pos)[0]
            c = m(torch.tensor([IDS]), torch.tensor([[1] * (n - 3) + [0] + [1] * 2]), torch.arange(n).unsqueeze(0))[0]
        self.assertLess(float((a - shifted).abs().max()), 1e-4)
        self.assertGreater(float((a[0, -1] - b[0, -1]).abs().max()), 1e-2)
        self.assertGreater(float((a[0, -1] - c[0, -1]).abs().max()), 1e-2)

    def test_export_round_trip(self):
        policy, ppm = self.models()
        with tempfile.TemporaryDirectory() as d:
            for name, model, kind, first in (("policy", policy, None, "logits"),
                                             ("hidden", ppm, "hidden", "last_hidden_state"),
                                             ("score", ppm, "score", "score")):
                out = os.path.join(d, name)
                opset = save_model_dir(model, out, kind)
                self.assertIn(opset, (17, 14))
                m = onnx.load(os.path.join(out, "model.onnx"))
                onnx.checker.check_model(m)
                L = model.config.num_hidden_layers
                self.assertEqual([i.name for i in m.graph.input],
                                 ["input_ids", "attention_mask", "position_ids"] +
                                 [f"past_key_values.{i}.{w}" for i in range(L) for w in ("key", "value")])
                self.assertEqual([o.name for o in m.graph.output],
                                 [first] + [f"present.{i}.{w}" for i in range(L) for w in ("key", "value")])
                dims = {v.name: [x.dim_param or x.dim_value for x in v.type.tensor_type.shape.dim]
                        for v in list(m.graph.input) + list(m.graph.output)}
                self.assertEqual(dims["attention_mask"], ["batch", "past+seq"])
                self.assertEqual(dims["past_key_values.0.key"], ["batch", 2, "past", 4])
                self.assertEqual(dims["present.1.value"], ["batch", 2, "past+seq", 4])
                self.assertEqual(dims[first][:2], ["batch", "seq"])
                cfg = read_json(out, "config.json")
                self.assertEqual(cfg["model_type"], "rstar-tiny")
                self.assertEqual(cfg.get("rstar_ppm"), None if kind is None else {"output": kind})
                self.assertEqual(RstarConfig.from_dict(cfg), model.config)
                self.assertTrue(os.path.exists(os.path.join(out, "tokenizer.json")))
                self.assertEqual(os.path.exists(os.path.join(out, "ppm_head.json")), kind == "hidden")
            head = read_json(d, "hidden", "ppm_head.json")
            self.assertEqual(len(head["weight"]), head["hidden_size"])

    def test_in_place_export(self):
        """new_only attention (the in-place export) gives the same outputs as concatenating
        the cache, on a masked, padded past, with no past, and on a past longer than its rows
        (a preallocated cache's unused positions, masked); the export names only new positions."""
        policy, ppm = self.models()
        c = policy.config
        torch.manual_seed(3)
        B, T, P = 3, 4, 6
        ids = torch.randint(4, c.vocab_size, (B, T))
        past = [(torch.randn(B, c.num_key_value_heads, P, c.head_dim), torch.randn(B, c.num_key_value_heads, P, c.head_dim))
                for _ in range(c.num_hidden_layers)]
        mask = torch.ones(B, P + T, dtype=torch.long)
        mask[0, 1] = 0
        mask[1, 4:P] = 0  # unused room at the end of row 1's cache
        mask[2, P + T - 1] = 0  # a padded new token
        pos = torch.arange(P, P + T).unsqueeze(0).expand(B, T).contiguous()
        with torch.no_grad():
            for model in (policy, ppm):
                a = model(ids, mask, pos, past)
                b = model(ids, mask, pos, past, new_only=True)
                self.assertLess(float((a[0] - b[0]).abs().max()), 1e-4)
                for (ka, va), (kb, vb) in zip(a[2], b[2]):
                    self.assertEqual(tuple(kb.shape), (B, c.num_key_value_heads, T, c.head_dim))
                    self.assertLess(float((ka[:, :, P:] - kb).abs().max()), 1e-4)
                    self.assertLess(float((va[:, :, P:] - vb).abs().max()), 1e-4)
                first = model(ids, torch.ones(B, T, dtype=torch.long), torch.arange(T).unsqueeze(0).expand(B, T).contiguous())
                none = model(ids, torch.ones(B, T, dtype=torch.long), torch.arange(T).unsqueeze(0).expand(B, T).contiguous(), None, True)
                self.assertLess(float((first[0] - none[0]).abs().max()), 1e-4)
        with tempfile.TemporaryDirectory() as d:
            save_model_dir(policy, d, None, "in-place")
            m = onnx.load(os.path.join(d, "model.onnx"))
            L = c.num_hidden_layers
            self.assertEqual([o.name for o in m.graph.output],
                             ["logits"] + [f"new_key_values.{i}.{w}" for i in range(L) for w in ("key", "value")])
            dims = {v.name: [x.dim_param or x.dim_value for x in v.type.tensor_type.shape.dim] for v in m.graph.output}
            self.assertEqual(dims["new_key_values.1.value"], ["batch", 2, "seq", 4])


if __name__ == "__main__":
    unittest.main()
