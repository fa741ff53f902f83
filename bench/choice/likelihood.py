# Answer choice offline, step 2: reads bench/choice/score.mts's output, adds the policy's
# likelihood of each answer's trajectory (teacher-forced, given the question: the mean and
# the sum of token log-probs), and prints for each way of choosing how many problems it
# gets right: trees whose answers are all right count for every rule, trees with none for
# no rule, so only the trees with both ("mixed") separate the rules.
#
#   /usr/bin/python3 bench/choice/likelihood.py SCORED.jsonl [--policy models/policy]
#                    [--greedy EVAL_DIR/results.jsonl]
#
# Needs PyTorch (the trainer's: python3-torch from Debian).
import argparse
import json
import math
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "trainer"))
from rstar_trainer.model import RstarConfig, RstarForCausalLM  # noqa: E402
from rstar_trainer.tokenizer import encode  # noqa: E402


def log_probs(model, question, text):
    """Token log-probs of text given question under the policy."""
    q = encode(question)
    ids = torch.tensor([q + encode(text)])
    with torch.no_grad():
        logits, _, _ = model(ids, torch.ones_like(ids), torch.arange(ids.shape[1])[None])
    lp = torch.log_softmax(logits[0, :-1].float(), -1).gather(1, ids[0, 1:, None])[:, 0]
    return lp[len(q) - 1:]


def z(values):
    sd = statistics.pstdev(values) or 1.0
    mean = statistics.fmean(values)
    return [(v - mean) / sd for v in values]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scored")
    ap.add_argument("--policy", default="models/policy")
    ap.add_argument("--greedy", help="an `rstar eval --greedy` results.jsonl of the same problems")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    config = RstarConfig.load(os.path.join(a.policy, "config.json"))
    model = RstarForCausalLM(config)
    model.load_state_dict(torch.load(os.path.join(a.policy, "pytorch_model.bin"), map_location="cpu"))
    model.eval()

    wins, trees, all_right, mixed, ids = {}, 0, 0, 0, set()
    for line in open(a.scored):
        t = json.loads(line)
        answers = t["answers"]
        right = [x["correct"] for x in answers]
        trees += 1
        ids.add(t["id"])
        if answers and all(right):
            all_right += 1
        if all(right) or not any(right):
            continue
        mixed += 1
        lps = [log_probs(model, t["question"], x["text"]) for x in answers]
        mean = [lp.mean().item() for lp in lps]
        rules = {"policy likelihood, mean per token": mean, "policy likelihood, sum": [lp.sum().item() for lp in lps]}
        for dir_ in answers[0]["ppm"]:
            ppm = [x["ppm"][dir_] for x in answers]
            rules[f"PPM {dir_}"] = ppm
            rules[f"z(likelihood) + z(PPM {dir_})"] = [p + q for p, q in zip(z(mean), z(ppm))]
        for name, scores in rules.items():
            wins[name] = wins.get(name, 0) + right[max(range(len(scores)), key=scores.__getitem__)]
        # votes: one per answer node, and weighted by softmax(2 z(likelihood))
        for name, weights in (("vote (answer nodes)", [1.0] * len(answers)),
                              ("vote weighted by likelihood", [math.exp(2 * v) for v in z(mean)])):
            total = {}
            for x, w in zip(answers, weights):
                total[x["answer"]] = total.get(x["answer"], 0.0) + w
            best = max(total, key=total.get)
            wins[name] = wins.get(name, 0) + any(x["correct"] for x in answers if x["answer"] == best)
        wins["random answer node (expected)"] = wins.get("random answer node (expected)", 0) + sum(right) / len(right)

    print(f"{a.scored}: {trees} problems; answers all right in {all_right} trees, mixed in {mixed}")
    print(f"  {'oracle (a right answer found)':44s} {all_right + mixed}")
    if a.greedy:
        greedy = [json.loads(l) for l in open(a.greedy)]
        same = [r for r in greedy if r["id"] in ids]
        if len(same) != trees:
            sys.exit(f"--greedy: {len(same)} of its results are of these {trees} problems")
        print(f"  {'greedy':44s} {sum(r['correct'] for r in same)}")
    for name, w in wins.items():
        print(f"  {name:44s} {all_right + w:.0f}" if isinstance(w, int) else f"  {name:44s} {all_right + w:.1f}")


if __name__ == "__main__":
    main()
