"""trainer/rollout_pairs.py: the fast decoder equals model.py's forward, a closed code block
gets rstar's executor output fed back, pairs follow the outcomes, and a run resumes.

  /usr/bin/python3 -m unittest trainer/tests/test_rollout_pairs.py -v
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

sys.dont_write_bytecode = True
TRAINER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TRAINER)

try:
    import torch

    import rollout_pairs as rp
    from rstar_trainer import tokenizer
    from rstar_trainer.model import RstarConfig, RstarForCausalLM
    NO_TORCH = None
except ImportError as e:
    NO_TORCH = f"needs torch ({e}); run with /usr/bin/python3 after apt-get install python3-torch"

ARCH = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 8, "intermediate_size": 64}


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return RstarForCausalLM(RstarConfig(**ARCH)).eval()


def trajectory(ops, answer):
    """A solution in the step format: one step per (comment, code), its output, its answer."""
    text = "<code>"
    for comment, code in ops:
        text += f"\n# {comment}\n{code}\n<end_of_step>"
    return (text + "\n# Now print the final answer\nprint(x)\n<end_of_code>\n"
            f"<output>{answer}\n<end_of_output>\n<answer>It is \\boxed{{{answer}}}.<end_of_answer>")


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def sample(text, gold):
    ans = rp.boxed(text)
    return {"text": text, "answer": ans, "correct": ans == gold, "error": None}


@unittest.skipIf(NO_TORCH, NO_TORCH or "")
class DecodeTest(unittest.TestCase):
    def test_decode_step_equals_the_model_forward(self):
        """Ragged prompts (a masked gap after the short one), then tokens decoded one at a
        time on the preallocated cache: the logits of model.py's full forward."""
        model = tiny_model()
        g = torch.Generator().manual_seed(1)
        prompts = [torch.randint(11, 100, (n,), generator=g).tolist() for n in (7, 12)]
        new = torch.randint(11, 100, (2, 5), generator=g)
        P = 12
        ids = torch.full((2, P), tokenizer.PAD_ID, dtype=torch.long)
        mask = torch.zeros(2, P, dtype=torch.long)
        for b, p in enumerate(prompts):
            ids[b, :len(p)] = torch.tensor(p)
            mask[b, :len(p)] = 1
        with torch.no_grad():
            _, _, past = model(ids, mask, torch.arange(P).unsqueeze(0).expand(2, P))
            cache = rp.Cache(model.config, past, P + 5)
            lens = torch.tensor([7, 12])
            maskadd = torch.full((2, 1, P + 5), -1e9)
            maskadd[:, 0, :P] = (1.0 - mask.float()) * -1e9
            for t in range(5):
                maskadd[:, 0, P + t] = 0.0
                got = rp.decode_step(model, cache, new[:, t], lens + t, maskadd[:, :, :P + t + 1])
                for b, p in enumerate(prompts):
                    full = torch.tensor([p + new[b, :t + 1].tolist()])
                    want = model(full, torch.ones_like(full), torch.arange(full.shape[1])[None])[0][0, -1]
                    self.assertLess(float((got[b] - want).abs().max()), 1e-4, f"row {b} token {t}")

    def scripted_rollout(self, code, output, rest):
        """Scripted tokens stand in for sampling (placeholders while the output is forced)."""
        flat = tokenizer.encode(code) + [0] * len(tokenizer.encode(output)) + tokenizer.encode(rest)
        steps = iter(flat)

        def scripted(logits, *_):
            return torch.full((logits.shape[0],), next(steps, tokenizer.PAD_ID), dtype=torch.long)

        ex = rp.Executor()
        try:
            with mock.patch.object(rp, "sample_tokens", scripted):
                (result,) = rp.rollouts(tiny_model(), ["Q?\n\n"], 1, ex, 200, 1.0, 1.0, torch.Generator())
            return result
        finally:
            ex.close()

    def test_a_closed_code_block_gets_the_executor_output(self):
        """The program runs in rstar's executor, its output block is fed back verbatim, and
        the sample ends at its answer step."""
        code = "<code>\nx = 6 * 7\n<end_of_step>\nprint(x)\n<end_of_code>"
        out = "\n<output>42\n<end_of_output>\n"
        text, answer, error = self.scripted_rollout(code, out, "<answer>\\boxed{42}<end_of_answer>more")
        self.assertEqual(text, code + out + "<answer>\\boxed{42}<end_of_answer>")
        self.assertEqual(answer, "42")
        self.assertIsNone(error)

    def test_a_boxed_step_ends_the_sample_whatever_its_stop(self):
        """As in the engine (step.ts): a step holding \\boxed is the final answer; an error's
        message is the output block and the sample goes on."""
        code = "<code>\nprint(1 // 0)\n<end_of_code>"
        ex = rp.Executor()
        try:
            shown, kind = ex.run("print(1 // 0)\n")
        finally:
            ex.close()
        self.assertEqual(kind, "exception")
        self.assertIn("ZeroDivisionError", shown)
        out = f"\n<output>{shown}<end_of_output>\n"
        text, answer, error = self.scripted_rollout(code, out, "It is \\boxed{0}<end_of_step>\nx = 1<end_of_step>")
        self.assertEqual(text, code + out + "It is \\boxed{0}<end_of_step>")
        self.assertEqual(answer, "0")
        self.assertEqual(error, "exception")

    def test_a_step_past_the_token_limit_is_cut_off_without_an_answer(self):
        text, answer, _ = self.scripted_rollout("<code>\n" + "x" * 170, "", "\\boxed{1}<end_of_answer>")
        self.assertEqual(text, "<code>\n" + "x" * 158)  # 160 tokens: the step limit
        self.assertIsNone(answer)

    def test_two_code_errors_in_a_row_end_the_sample(self):
        code = "<code>\nx = 1 // 0\n<end_of_step>\ny = 2\n<end_of_step>"
        text, answer, error = self.scripted_rollout(code, "", "\\boxed{1}<end_of_answer>")
        self.assertEqual(text, code)  # the second step runs with the first, so it fails too
        self.assertIsNone(answer)
        self.assertEqual(error, "exception")


@unittest.skipIf(NO_TORCH, NO_TORCH or "")
class PairsTest(unittest.TestCase):
    def test_split_steps_and_program(self):
        text = trajectory([("Step 1: 3 and 4 more", "x = 3 + 4")], 7)
        steps = rp.split_steps(text)
        self.assertEqual("".join(shown for _, shown in steps), text)
        self.assertEqual(steps[1][0], "\n# Now print the final answer\nprint(x)\n<end_of_code>")
        self.assertTrue(steps[1][1].endswith("<output>7\n<end_of_output>\n"))
        self.assertEqual(rp.program(steps[0][0] + steps[1][0]), "# Step 1: 3 and 4 more\nx = 3 + 4\n# Now print the final answer\nprint(x)\n")

    def test_pairs_follow_the_outcomes(self):
        s1 = ("Step 1: 3 and 4 more", "x = 3 + 4")
        right = trajectory([s1, ("Step 2: double it", "x = x * 2")], 14)
        wrong = trajectory([s1, ("Step 2: give 2 away", "x = x - 2")], 5)
        wrong2 = trajectory([s1, ("Step 2: add 2", "x = x + 2")], 9)
        renamed = trajectory([s1, ("Step 2: twice as many", "x = x * 2")], 14)
        rec = {"id": "p", "question": "Q?\n\n",
               "samples": [sample(t, "14") for t in (right, wrong, wrong, wrong2, renamed)]}
        pairs = rp.problem_pairs(rec, 4, random.Random(0))
        answers = [p for p in pairs if "@answer:" in p["id"]]
        steps = [p for p in pairs if "@answer:" not in p["id"]]
        self.assertEqual(len(answers), 4)
        for p in answers:
            self.assertEqual(p["prompt"], "Q?\n\n")
            self.assertIn(p["chosen"], (right, renamed))
            self.assertIn(p["rejected"], (wrong, wrong2))
        # both wrong answers (5 and 9) are rejected before any is repeated
        self.assertEqual({rp.boxed(p["rejected"]) for p in answers[:3]}, {"5", "9"})
        # step 2 parts four ways: the two right ones differ only in a comment (no pair)
        self.assertTrue(steps)
        for p in steps:
            self.assertTrue(p["prompt"].startswith("Q?\n\n<code>\n# Step 1"))
            self.assertIn("x * 2", p["chosen"])
            self.assertNotIn("x * 2", p["rejected"])
            self.assertEqual((p["chosenQ"], p["rejectedQ"]), (1.0, -1.0))

    def test_verified_are_the_distinct_right_samples(self):
        right = trajectory([("Step 1: double it", "x = 7 * 2")], 14)
        right2 = trajectory([("Step 1: twice 7", "x = 7 * 2")], 14)
        wrong = trajectory([("Step 1: add", "x = 7 + 2")], 9)
        with tempfile.TemporaryDirectory() as d:
            rollouts, sft = os.path.join(d, "rollouts.jsonl"), os.path.join(d, "sft.jsonl")
            with open(rollouts, "w") as f:
                f.write(json.dumps({"id": "p", "question": "Q?\n\n",
                                    "samples": [sample(t, "14") for t in (wrong, right, right, right2)]}) + "\n")
                f.write(json.dumps({"id": "q", "question": "R?\n\n", "samples": [sample(wrong, "14")]}) + "\n")
            self.assertEqual(rp.write_verified(rollouts, sft), 2)
            self.assertEqual([json.loads(x) for x in read_lines(sft)],
                             [{"id": "p#0", "query": "Q?", "response": right}, {"id": "p#1", "query": "Q?", "response": right2}])

    def test_no_pairs_without_both_outcomes(self):
        t = trajectory([("Step 1", "x = 1")], 1)
        self.assertEqual(rp.problem_pairs({"id": "p", "question": "Q", "samples": [sample(t, "1")] * 3}, 4, random.Random(0)), [])
        self.assertEqual(rp.problem_pairs({"id": "p", "question": "Q", "samples": [sample(t, "2")] * 3}, 4, random.Random(0)), [])


@unittest.skipIf(NO_TORCH, NO_TORCH or "")
class RunTest(unittest.TestCase):
    def test_run_writes_rollouts_and_resumes(self):
        with tempfile.TemporaryDirectory() as d:
            policy = os.path.join(d, "policy")
            os.makedirs(policy)
            model = tiny_model()
            model.config.save(os.path.join(policy, "config.json"))
            torch.save(model.state_dict(), os.path.join(policy, "pytorch_model.bin"))
            problems = os.path.join(d, "p.jsonl")
            with open(problems, "w") as f:
                for i in range(3):
                    f.write(json.dumps({"id": f"p{i}", "problem": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n")
            out = os.path.join(d, "out")
            run = [sys.executable, os.path.join(TRAINER, "rollout_pairs.py"), "--policy", policy, "--problems", problems,
                   "--out", out, "--k", "2", "--batch", "4", "--max-tokens", "12", "--threads", "1"]
            r = subprocess.run(run + ["--limit", "2"], capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            path = os.path.join(out, "rollouts.jsonl")
            first = read_lines(path)
            self.assertEqual([json.loads(x)["id"] for x in first], ["p0", "p1"])
            self.assertTrue(all(len(json.loads(x)["samples"]) == 2 for x in first))
            for name in ("pairs.jsonl", "sft.jsonl"):
                self.assertTrue(os.path.exists(os.path.join(out, name)), name)
            # a torn last line (a crash mid-write) is dropped and its problem sampled again
            with open(path, "a") as f:
                f.write('{"id": "p2", "sam')
            r = subprocess.run(run, capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = read_lines(path)
            self.assertEqual(lines[:2], first)
            self.assertEqual([json.loads(x)["id"] for x in lines], ["p0", "p1", "p2"])
            # what one uninterrupted run writes
            once = os.path.join(d, "once")
            r = subprocess.run(run[:run.index("--out") + 1] + [once] + run[run.index("--out") + 2:],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(read_lines(os.path.join(once, "rollouts.jsonl")), lines)

    def test_bad_problem_line_names_file_line_field(self):
        with tempfile.TemporaryDirectory() as d:
            problems = os.path.join(d, "p.jsonl")
            with open(problems, "w") as f:
                f.write(json.dumps({"id": "a", "problem": "x", "answer": "1"}) + "\n" + json.dumps({"id": "b", "problem": "y"}) + "\n")
            r = subprocess.run([sys.executable, os.path.join(TRAINER, "rollout_pairs.py"), "--policy", d, "--problems", problems,
                                "--out", d], capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(f"{problems}:2: field 'answer'", r.stderr)


if __name__ == "__main__":
    unittest.main()
