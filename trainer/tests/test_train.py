"""trainer/train.py end to end on tiny data (tens of seconds). From the repo root:

  /usr/bin/python3 -m unittest discover -s trainer/tests -v

SFT from scratch (loss falls; the out dir loads back into torch with the same logits; the
ONNX holds the trained weights and, where node + onnxruntime-node are installed, gives the
same logits), PPM from that policy (pair accuracy rises; the shared-prefix forward equals
the plain one), resume after a crash (same weights as an uninterrupted run), bad data
lines, bad configs, a missing torch. Torch tests skip, saying why, where torch is missing.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
TRAINER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TRAINER)
TRAIN_PY = os.path.join(TRAINER, "train.py")
sys.path.insert(0, TRAINER)

try:
    import onnx
    import torch
    from onnx import numpy_helper

    from make_test_models import full
    from rstar_trainer import tokenizer
    from rstar_trainer.model import RstarConfig, RstarForCausalLM, RstarPPM
    from rstar_trainer.train import CRASH_ENV, ppm_forward, ppm_tensors
    NO_TORCH = None
except ImportError as e:
    NO_TORCH = f"needs torch + onnx ({e}); run with /usr/bin/python3 after apt-get install python3-torch python3-onnx"

ARCH = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 8, "intermediate_size": 64}


def problem(r):
    """A 2-step problem; the second step subtracts or adds, so in a PPM pair (right vs
    wrong operator) neither operator is always the chosen one: the context decides."""
    a, b, c = r.randint(2, 9), r.randint(2, 9), r.randint(1, 9)
    eats = r.random() < 0.5
    verb, op, wrong, v = ("eats", "-", "+", a * b - c) if eats else ("finds", "+", "-", a * b + c)
    q = f"Tom has {a} bags of {b} apples and {verb} {c}. How many apples does he have?"
    s1 = f"<code>\n# Step 1: apples in {a} bags of {b}\napples = {a} * {b}\n<end_of_step>"
    s2 = f"\n# Step 2: he {verb} {c}\nleft = apples {op} {c}\n<end_of_step>"
    bad = f"\n# Step 2: he {verb} {c}\nleft = apples {wrong} {c}\n<end_of_step>"
    end = (f"\n# Now print the final answer\nprint(left)\n<end_of_code>\n<output>{v}<end_of_output>\n"
           f"<answer>Tom has \\boxed{{{v}}} apples.<end_of_answer>")
    return q, s1, s2, bad, end


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def sft_rows(n, seed):
    r = random.Random(seed)
    return [{"query": q, "response": s1 + s2 + end} for q, s1, s2, _, end in (problem(r) for _ in range(n))]


def ppm_rows(n, seed):
    r = random.Random(seed)
    return [{"prompt": q + "\n\n" + s1, "chosen": s2, "rejected": bad, "q_chosen": 1.0}
            for q, s1, s2, bad, _ in (problem(r) for _ in range(n))]


def train(cfg, d, name, *flags, env=None):
    """Writes d/name.json and runs train.py on it; returns (returncode, stderr)."""
    path = os.path.join(d, f"{name}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    r = subprocess.run([sys.executable, TRAIN_PY, path, *flags], capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, **(env or {})))
    return r.returncode, r.stderr


def read_json(*parts):
    with open(os.path.join(*parts)) as f:
        return json.load(f)


def sft_config(**kw):
    return {"task": "sft", "base": None, "architecture": dict(ARCH), "data": ["sft.jsonl"], "eval_data": ["sft.jsonl"],
            "out": "policy", "epochs": 10, "batch_size": 4, "lr": 1e-2, "warmup": 2, "seed": 7, "bf16": False,
            "threads": 1, **kw}


def load_torch(out_dir):
    cfg = read_json(out_dir, "config.json")
    scalar = cfg.get("rstar_ppm", {}).get("output") in ("hidden", "score")  # a reviewer is a language model
    model = (RstarPPM if scalar else RstarForCausalLM)(RstarConfig.from_dict(cfg))
    model.load_state_dict(torch.load(os.path.join(out_dir, "pytorch_model.bin")))
    return model.eval()


def ort_last_logits(model_dir, ids, L, kvh, hd):
    """Logits at the last position from onnxruntime-node (empty past), or None where
    node or node_modules/onnxruntime-node is missing."""
    if not shutil.which("node") or not os.path.isdir(os.path.join(REPO, "node_modules", "onnxruntime-node")):
        return None
    js = """
const ort = require('onnxruntime-node');
(async () => {
  const [path, idsJson, L, kvh, hd] = process.argv.slice(1);
  const ids = JSON.parse(idsJson), n = ids.length;
  const s = await ort.InferenceSession.create(path);
  const i64 = (a) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
  const feeds = { input_ids: i64(ids), attention_mask: i64(ids.map(() => 1)), position_ids: i64(ids.map((_, i) => i)) };
  for (let i = 0; i < +L; i++) for (const w of ['key', 'value'])
    feeds[`past_key_values.${i}.${w}`] = new ort.Tensor('float32', new Float32Array(0), [1, +kvh, 0, +hd]);
  const out = await s.run(feeds);
  const V = out.logits.dims[2];
  console.log(JSON.stringify(Array.from(out.logits.data.slice((n - 1) * V, n * V))));
})().catch((e) => { console.error(e); process.exit(1); });"""
    r = subprocess.run(["node", "-e", js, os.path.join(model_dir, "model.onnx"), json.dumps(ids), str(L), str(kvh),
                        str(hd)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


class ConfigAndDataErrorTest(unittest.TestCase):
    """Errors that come before torch is needed (still need torch for the data checks)."""

    def setUp(self):
        self.d = tempfile.mkdtemp(prefix="rstar-train-test-")
        write_jsonl(os.path.join(self.d, "sft.jsonl"), sft_rows(4, 1))

    def tearDown(self):
        shutil.rmtree(self.d)

    def test_unknown_and_conflicting_fields(self):
        rc, err = train(sft_config(batchsize=8), self.d, "c1")
        self.assertEqual(rc, 2)
        self.assertIn("unknown field(s) batchsize", err)
        rc, err = train(sft_config(base="policy"), self.d, "c2")
        self.assertEqual(rc, 2)
        self.assertIn("either 'base'", err)
        cfg = sft_config()
        del cfg["architecture"]["head_dim"]
        rc, err = train(cfg, self.d, "c3")
        self.assertEqual(rc, 2)
        self.assertIn("architecture.head_dim is required", err)
        rc, err = train(sft_config(data=["nope.jsonl"]), self.d, "c4")
        self.assertEqual(rc, 2)
        self.assertIn("no such file", err)
        rc, err = train({**sft_config(), "task": "ppm", "reviewer": True}, self.d, "c5")
        self.assertEqual(rc, 2)
        self.assertIn("reviewer", err)

    def test_missing_torch_message(self):
        """Where torch cannot be imported, one line says what to install."""
        path = os.path.join(self.d, "c.json")
        with open(path, "w") as f:
            json.dump(sft_config(), f)
        code = ("import sys; sys.modules['torch'] = None; sys.argv = [sys.argv[1], sys.argv[2]]; "
                "import runpy; runpy.run_path(sys.argv[0], run_name='__main__')")
        r = subprocess.run([sys.executable, "-c", code, TRAIN_PY, path], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, RSTAR_KEEP_MALLOC="1"))
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("training needs python3-torch: apt-get install -y --no-install-recommends "
                      "python3-torch python3-onnx libopenblas0-pthread", r.stderr)

    @unittest.skipIf(NO_TORCH, NO_TORCH)
    def test_bad_data_lines_name_file_line_field(self):
        good = sft_rows(3, 2)
        cases = [
            ([good[0], good[1], {"query": "q"}], ":3: field 'response' is missing"),
            ([good[0], {"query": "q", "response": 5}], ":2: field 'response' must be a string, got int"),
            ([good[0], "", "{not json"], ":3: not valid JSON"),
            ([good[0], {"query": "", "response": "x"}], ":2: field 'query' is empty"),
            ([{"prompt": "p", "chosen": "a", "rejected": "b"}], ":1: field 'query' is missing (a sft line needs "
             "query, response); this looks like PPM data"),
        ]
        for i, (rows, msg) in enumerate(cases):
            path = write_jsonl(os.path.join(self.d, f"bad{i}.jsonl"), rows)
            rc, err = train(sft_config(data=[f"bad{i}.jsonl"], eval_data=None), self.d, f"b{i}")
            self.assertEqual(rc, 2, err)
            self.assertIn(f"{path}{msg}", err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)  # one line, no traceback
            self.assertFalse(os.path.exists(os.path.join(self.d, "policy")))
            self.assertFalse(os.path.exists(os.path.join(self.d, "policy.tmp")))


@unittest.skipIf(NO_TORCH, NO_TORCH)
class TrainTest(unittest.TestCase):
    """One SFT run from scratch shared by the tests (a few seconds)."""

    @classmethod
    def setUpClass(cls):
        cls.d = tempfile.mkdtemp(prefix="rstar-train-test-")
        write_jsonl(os.path.join(cls.d, "sft.jsonl"), sft_rows(48, 1))
        write_jsonl(os.path.join(cls.d, "ppm.jsonl"), ppm_rows(32, 2))
        cls.rc, cls.err = train(sft_config(), cls.d, "sft")
        cls.policy = os.path.join(cls.d, "policy")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.d)

    def test_sft_loss_falls_and_out_dir_is_complete(self):
        self.assertEqual(self.rc, 0, self.err)
        for f in ("model.onnx", "config.json", "tokenizer.json", "metrics.json", "train_config.json",
                  "pytorch_model.bin", "reference.json"):
            self.assertTrue(os.path.isfile(os.path.join(self.policy, f)), f)
        self.assertFalse(os.path.exists(os.path.join(self.policy, "ppm_head.json")))
        self.assertFalse(os.path.exists(self.policy + ".tmp"))
        self.assertFalse(os.path.exists(os.path.join(self.policy, "checkpoint.pt")))
        m = read_json(self.policy, "metrics.json")
        self.assertEqual(m["status"], "completed")
        self.assertEqual(len(m["epochs"]), 10)
        self.assertLess(m["epochs"][-1]["eval"]["loss"], 0.5 * m["initial_eval"]["loss"])
        self.assertLess(m["epochs"][-1]["train"]["loss"], m["epochs"][0]["train"]["loss"])
        self.assertGreater(m["tokens_per_s"], 0)
        self.assertEqual(m["steps"], m["total_steps_planned"])
        self.assertEqual(m["seed"], 7)
        self.assertEqual(m["config"]["lr"], 1e-2)
        self.assertEqual(m["environment"]["torch"], torch.__version__)
        self.assertEqual(m["parameters"], sum(p.numel() for p in load_torch(self.policy).parameters()))
        self.assertEqual(read_json(self.policy, "train_config.json"), read_json(self.d, "sft.json"))
        self.assertRegex(self.err, r"epoch 10/10 done .* train loss [0-9.]+ token acc")

    def test_out_dir_loads_back_with_the_same_logits(self):
        """The out dir's torch weights reproduce reference.json (written before export), and
        model.onnx holds those same weights; ORT agrees where it is installed."""
        ref = read_json(self.policy, "reference.json")
        self.assertEqual(len(ref["greedy"]), 2)
        model = load_torch(self.policy)
        with torch.no_grad():
            for case in ref["greedy"]:
                self.assertEqual(tokenizer.encode(case["prompt"]), case["prompt_ids"])
                self.assertTrue(case["prompt"].endswith("\n\n"))
                got = full(model, case["prompt_ids"])[0][0, -1]
                self.assertLess(float((got - torch.tensor(case["first_logits"])).abs().max()), 1e-5)
        inits = [numpy_helper.to_array(t) for t in onnx.load(os.path.join(self.policy, "model.onnx")).graph.initializer]
        for name, p in model.state_dict().items():
            w = p.numpy()
            hit = any(a.shape == w.shape and (a == w).all() or a.shape == w.T.shape and (a == w.T).all()
                      for a in inits)
            self.assertTrue(hit, f"{name} is not among model.onnx's initializers")
        c = model.config
        case = ref["greedy"][0]
        ort = ort_last_logits(self.policy, case["prompt_ids"], c.num_hidden_layers, c.num_key_value_heads, c.head_dim)
        if ort is not None:
            self.assertLess(max(abs(a - b) for a, b in zip(ort, case["first_logits"])), 1e-4)

    def test_learned_the_format(self):
        """After 10 epochs on 48 examples the greedy continuation starts the code block."""
        ref = read_json(self.policy, "reference.json")
        text = tokenizer.decode(ref["greedy"][0]["new_ids"])
        self.assertTrue(text.startswith("<code>\n# Step 1: "), text)

    def test_ppm_from_the_policy(self):
        cfg = {"task": "ppm", "base": "policy", "data": ["ppm.jsonl"], "eval_data": ["ppm.jsonl"], "out": "ppm",
               "epochs": 10, "batch_size": 4, "lr": 5e-3, "warmup": 2, "seed": 3, "bf16": True, "threads": 1}
        rc, err = train(cfg, self.d, "ppm")
        self.assertEqual(rc, 0, err)
        out = os.path.join(self.d, "ppm")
        self.assertEqual(read_json(out, "config.json")["rstar_ppm"], {"output": "hidden"})
        head = read_json(out, "ppm_head.json")
        self.assertEqual(len(head["weight"]), head["hidden_size"])
        m = read_json(out, "metrics.json")
        first, last = m["initial_eval"], m["epochs"][-1]["eval"]
        self.assertGreaterEqual(last["pair_accuracy"], 0.9, err)
        self.assertLessEqual(first["pair_accuracy"], 0.7)  # the operator alone does not tell
        self.assertGreater(last["pair_accuracy"], first["pair_accuracy"] + 0.2)
        self.assertLess(last["loss"], first["loss"])
        for k in ("tanh_loss", "tanh_pair_accuracy", "mean_score_chosen", "mean_score_rejected"):
            self.assertIn(k, last)
        self.assertIn("tanh(r / 5)", m["definitions"]["tanh_loss"])
        self.assertIn("RAW", m["definitions"]["loss"])
        # The backbone started from the policy's weights (then trained on), the head is new.
        policy, ppm = load_torch(self.policy), load_torch(out)
        self.assertEqual(set(ppm.state_dict()) - set(policy.state_dict()), {"value_head.weight", "value_head.bias"})
        # reference.json: raw r per position from torch, as the fixtures have it.
        ref = read_json(out, "reference.json")["ppm"][0]
        with torch.no_grad():
            raw, h, _ = full(ppm, ref["ids"])
        self.assertLess(float((raw[0] - torch.tensor(ref["raw"])).abs().max()), 1e-5)
        score = float(torch.tanh((h[0, -1] @ torch.tensor(head["weight"]) + head["bias"]) / 5))
        self.assertAlmostEqual(score, float(torch.tanh(raw[0, -1] / 5)), places=5)

    def test_reviewer_from_the_policy(self):
        """A reviewer writes the question after the trajectory: after training, a question is
        likelier after its own trajectory than after another problem's, and the export says
        it is a reviewer PPM with a policy's logits."""
        cfg = {"task": "sft", "base": "policy", "data": ["sft.jsonl"], "out": "reviewer", "reviewer": True,
               "epochs": 20, "batch_size": 4, "lr": 1e-2, "warmup": 2, "seed": 5, "threads": 1}
        rc, err = train(cfg, self.d, "reviewer")
        self.assertEqual(rc, 0, err)
        out = os.path.join(self.d, "reviewer")
        self.assertEqual(read_json(out, "config.json")["rstar_ppm"], {"output": "reviewer"})
        self.assertFalse(os.path.exists(os.path.join(out, "ppm_head.json")))
        m = read_json(out, "metrics.json")
        self.assertLess(m["epochs"][-1]["train"]["loss"], m["epochs"][0]["train"]["loss"])
        case = read_json(out, "reference.json")["greedy"][0]
        self.assertTrue(case["prompt"].startswith("<code>") and case["prompt"].endswith("<end_of_answer>\n\n"))
        model = load_torch(out)

        def mean_logprob(trajectory, question):
            p, q = tokenizer.encode(trajectory + "\n\n"), tokenizer.encode(question)
            with torch.no_grad():
                logits = full(model, p + q)[0][0]
            lp = torch.log_softmax(logits[len(p) - 1:-1], -1).gather(1, torch.tensor(q)[:, None])
            return float(lp.mean())

        rows = sft_rows(48, 9)  # new problems
        wins = sum(mean_logprob(r["response"], r["query"]) > mean_logprob(rows[i - 1]["response"], r["query"])
                   for i, r in enumerate(rows))
        # chance is 1 in 2; trained, about 5 in 6 (40 of 48 here, 13 of the first 16)
        self.assertGreaterEqual(wins, 36, wins)

    def test_shared_prefix_forward_equals_plain(self):
        """The PPM scores chosen and rejected on top of the prompt's KV cache (masked gaps
        for short prompts); that must equal scoring each prompt + step on its own."""
        torch.manual_seed(0)
        model = RstarPPM(RstarConfig(**ARCH)).double().eval()
        rows = ppm_rows(3, 5)
        rows[1]["prompt"] = rows[1]["prompt"][:20]  # ragged prompts and steps
        rows[2]["chosen"] = rows[2]["chosen"][:9]
        ex = [tuple(tokenizer.encode(r[k]) for k in ("prompt", "chosen", "rejected")) for r in rows]
        with torch.no_grad():
            batch = ppm_tensors(ex, [0, 1, 2], "cpu")
            loss, _ = ppm_forward(model, batch)
            rc, rr = [], []
            for p, c, r in ex:
                rc.append(full(model, p + c)[0][0, -1])
                rr.append(full(model, p + r)[0][0, -1])
            want = -torch.nn.functional.logsigmoid(torch.stack(rc) - torch.stack(rr)).mean()
        self.assertLess(abs(float(loss) - float(want)), 1e-6)  # r is cast to float32

    def test_resume_after_a_crash_gives_the_same_weights(self):
        """Crash mid-epoch 2 (checkpoint every step), resume: same weights as the
        uninterrupted setUpClass run (the batch plan depends only on data, seed, epoch)."""
        cfg = sft_config(out="resumed", checkpoint_every_s=0)
        rc, err = train(cfg, self.d, "resume", env={CRASH_ENV: "17"})
        self.assertEqual(rc, 75, err)
        tmp = os.path.join(self.d, "resumed.tmp")
        self.assertTrue(os.path.isfile(os.path.join(tmp, "checkpoint.pt")))
        self.assertFalse(os.path.exists(os.path.join(self.d, "resumed")))
        rc, err = train(dict(cfg, lr=1e-3), self.d, "resume-changed", "--resume")
        self.assertEqual(rc, 2)
        self.assertIn("differ from the interrupted run in lr", err)
        rc, err = train(cfg, self.d, "resume", "--resume")
        self.assertEqual(rc, 0, err)
        self.assertIn("resuming at epoch 2, step 5 (global 17/120", err)
        self.assertFalse(os.path.exists(tmp))
        m = read_json(self.d, "resumed", "metrics.json")
        self.assertEqual(m["sessions"], 2)
        self.assertEqual(len(m["epochs"]), 10)
        a, b = load_torch(self.policy).state_dict(), load_torch(os.path.join(self.d, "resumed")).state_dict()
        for k in a:
            self.assertLess(float((a[k] - b[k]).abs().max()), 1e-6, k)

    def test_existing_out_and_time_limit(self):
        rc, err = train(sft_config(), self.d, "again")
        self.assertEqual(rc, 2)
        self.assertIn("already exists", err)
        cfg = sft_config(out="limited", epochs=50, time_limit_s=0.5)
        rc, err = train(cfg, self.d, "limited")
        self.assertEqual(rc, 0, err)
        m = read_json(self.d, "limited", "metrics.json")
        self.assertEqual(m["status"], "time_limit")
        self.assertLess(m["steps"], m["total_steps_planned"])
        self.assertTrue(os.path.isfile(os.path.join(self.d, "limited", "model.onnx")))
        rc, err = train(cfg, self.d, "limited", "--force")  # replaces it
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    unittest.main()
