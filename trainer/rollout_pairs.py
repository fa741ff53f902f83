"""PPM preference pairs from the policy's own sampled rollouts, valued by their outcomes.

rStar-Math values a step by the outcomes of the rollouts through it (MCTS, round 1). On two
CPU cores the engine's search with the tiny default policy makes about 1.2 rollouts a second;
this script samples whole trajectories independently, many at once, with a batched decoder
(13-19 a second, bf16), and values each step by the fraction of the samples through it that
reach the gold answer: the same Monte Carlo estimate, without the tree's selection. Every
code block runs in rstar's own executor (src/verify/python/executor.py), and its output is
fed to the policy as the engine feeds it, so the texts are what a search would hold.

  /usr/bin/python3 trainer/rollout_pairs.py --policy DIR --problems P.jsonl --out DIR
      [--k 8] [--temperature 1.2] [--top-p 0.95] [--batch 128] [--seed 0] [--limit N]

Writes, in --out:
  rollouts.jsonl  one line per problem: {id, question, level, gold, samples: [{text, answer,
                  correct, error}]}; appended and fsync'd batch by batch, so a rerun
                  resumes where it stopped (batches are fixed slices of the problems, each
                  seeded by its start: a resumed run writes what one run would have)
  pairs.jsonl     `rstar data select`'s pair format ({id, prompt, chosen, rejected, chosenQ,
                  rejectedQ}, Q = 2 x the fraction right - 1), for trainer/train.py's ppm task:
                  - answer pairs: a whole right trajectory over a whole wrong one (the
                    choice the search makes at the end), wrong answers that differ first;
                  - step pairs: where samples share a prefix and then part, a step with more
                    right samples over a sibling with fewer, when their code differs (two
                    steps that differ only in a comment are one step to the executor).
  sft.jsonl       the verified trajectories: each problem's right samples, distinct texts, as
                  SFT lines ({id: ID#i, query, response}, `rstar data select --sft`'s format),
                  for the next policy's SFT or a reviewer (trainer/train.py, "reviewer": true).
A sample ends with its first step that holds \\boxed, as in the engine. It is right when its
boxed answer is the gold string (the synthetic domain's answers are integers, which the
policy writes as such); a code error's message is its output block, as in the engine, and the
sample goes on. Samples cut off at the engine's limits (no answer) are kept in
rollouts.jsonl and left out of the pairs.
"""
import argparse
import json
import math
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rstar_trainer import tokenizer  # noqa: E402
from rstar_trainer.model import RstarConfig, RstarForCausalLM  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXECUTOR = os.path.join(REPO, "src", "verify", "python", "executor.py")
END_CODE = tokenizer.TOKEN_TO_ID["<end_of_code>"]
STOPS = ("<end_of_step>", "<end_of_code>", "<end_of_answer>")
STOP_IDS = {tokenizer.TOKEN_TO_ID[s] for s in STOPS}
MAX_DEPTH = 16  # the engine's defaults (--max-depth, --errors-threshold)
ERRORS_THRESHOLD = 2
OUTPUT_CLOSE = "<end_of_output>\n"


# --------------------------------------------------------------------------- the step format

def split_steps(text):
    """(step, shown) per step, as src/format/step.ts splitTrajectory does: shown adds a code
    block's output block, as the next step's context shows it."""
    steps, at = [], 0
    while at < len(text):
        ends = [(i, s) for s in STOPS for i in [text.find(s, at)] if i >= 0]
        if not ends:
            steps.append((text[at:], text[at:]))
            break
        end, stop = min(ends)
        step = text[at:end + len(stop)]
        at = end + len(stop)
        shown = step
        if stop == "<end_of_code>" and text.startswith("\n<output>", at):
            close = text.find(OUTPUT_CLOSE, at)
            if close >= 0:
                shown = step + text[at:close + len(OUTPUT_CLOSE)]
                at = close + len(OUTPUT_CLOSE)
        steps.append((step, shown))
    return steps


def step_code(step):
    """A step's lines of code, markers dropped, ending in a newline (step.ts stepCode)."""
    lines = []
    for line in step.replace("<end_of_step>", "").split("\n"):
        end = line.find("<end_of_code>")
        if end >= 0:
            if line[:end].strip():
                lines.append(line[:end])
            break
        if "<code>" not in line:
            lines.append(line)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "".join(line + "\n" for line in lines)


def program(text):
    """The program of a text that ends by closing a code block: the code of that block's
    steps in order (after the last output block), as the engine runs it (step.ts blockProgram)."""
    at = text.rfind(OUTPUT_CLOSE)
    block = text if at < 0 else text[at + len(OUTPUT_CLOSE):]
    return "".join(step_code(step) for step, _ in split_steps(block))


def boxed(text):
    at = text.rfind("\\boxed{")
    if at < 0:
        return None
    depth, start = 0, at + len("\\boxed{")
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            if depth == 0:
                return text[start:i]
            depth -= 1
    return None


def code_lines(step):
    return [ln for ln in step.split("\n") if ln.strip() and not ln.lstrip().startswith("#")]


# --------------------------------------------------------------------------- execution

class Executor:
    """rstar's Python executor server (cumulative mode: each program run fresh), spoken to as
    src/verify/executor.ts does: one request at a time under a random id; a reply under any
    other id (a program that reached the protocol) fails that run as `sandbox` and a fresh
    server takes the next."""

    def __init__(self, python=sys.executable):
        self.python = python
        self.scratch = tempfile.mkdtemp(prefix="rstar-rollouts-")
        self.start()

    def start(self):
        config = {"scratch": self.scratch, "isolation": "inprocess", "preimport_optional": False,
                  "max_snapshots": 1, "parent_pid": os.getpid(),
                  "limits": {"timeout_s": 5, "memory_mb": 1024, "cpu_s": 10, "file_mb": 16,
                             "keep_chars": 4000, "output_chars": 1_000_000}}
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        self.child = subprocess.Popen([self.python, EXECUTOR, json.dumps(config)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=env)
        hello = json.loads(self.child.stdout.readline() or "{}")
        if not hello.get("ready"):
            raise RuntimeError(f"python executor did not start ({EXECUTOR})")

    def run(self, prog):
        """(output as the context shows it, error kind or None): an error shows its message,
        as src/verify/python-verifier.ts does."""
        rid = secrets.token_hex(16)
        self.child.stdin.write(json.dumps({"id": rid, "program": prog}) + "\n")
        self.child.stdin.flush()
        line = self.child.stdout.readline()
        if not line:
            raise RuntimeError("python executor exited")
        try:
            r = json.loads(line)
        except ValueError:
            r = None
        if not isinstance(r, dict) or r.get("id") != rid:
            self.child.kill()
            self.child.wait()
            self.start()
            return "sandbox: the protocol was broken; the interpreter was replaced", "sandbox"
        return (r["stdout"], None) if r["ok"] else (r.get("message") or r["error"], r["error"])

    def close(self):
        self.child.stdin.close()
        self.child.wait()
        self.child.stdout.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


# --------------------------------------------------------------------------- batched decoding

def rope(x, pos, inv_freq):
    freqs = pos.to(inv_freq.dtype).unsqueeze(-1) * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1).unsqueeze(1)
    x1, x2 = x.chunk(2, dim=-1)
    return x * emb.cos() + torch.cat((-x2, x1), dim=-1) * emb.sin()


class Cache:
    """Per layer, keys and values preallocated as [rows * kv_heads, max_len, head_dim]: a
    decode step writes one slot in place and reads the grouped-query heads as a view.
    (model.py's forward concatenates the cache and expands the KV heads each call, which is
    right for export but slow to decode with: bench/rollouts/decode.py.)"""

    def __init__(self, config, past, max_len):
        rows, kvh, length, hd = past[0][0].shape
        self.kvh, self.hd, self.rep = kvh, hd, config.num_attention_heads // kvh
        self.k, self.v = [], []
        for k, v in past:
            K = torch.zeros(rows * kvh, max_len, hd, dtype=k.dtype)
            V = torch.zeros(rows * kvh, max_len, hd, dtype=v.dtype)
            K[:, :length] = k.reshape(rows * kvh, length, hd)
            V[:, :length] = v.reshape(rows * kvh, length, hd)
            self.k.append(K)
            self.v.append(V)
        self.len = length


@torch.no_grad()
def decode_step(model, cache, tok, pos, maskadd):
    """Logits [rows, vocab] of one new token per row (tok, pos: [rows]); maskadd: [rows, 1,
    cache.len + 1], 0 where attended, -1e9 where masked. Same math as model.py's forward."""
    m = model.model
    rows = tok.shape[0]
    kvh, hd, rep, n = cache.kvh, cache.hd, cache.rep, cache.len
    x = m.embed_tokens(tok)[:, None]
    for i, layer in enumerate(m.layers):
        a = layer.self_attn
        h = layer.input_layernorm(x)
        q = rope(a.q_proj(h).reshape(rows, 1, kvh * rep, hd).transpose(1, 2), pos[:, None], m.inv_freq)
        k = rope(a.k_proj(h).reshape(rows, 1, kvh, hd).transpose(1, 2), pos[:, None], m.inv_freq)
        cache.k[i][:, n] = k.reshape(rows * kvh, hd)
        cache.v[i][:, n] = a.v_proj(h).reshape(rows * kvh, hd)
        # query head g * rep + r reads KV head g: [rows * kvh, rep, hd] against [rows * kvh, n + 1, hd]
        att = torch.bmm(q.reshape(rows * kvh, rep, hd), cache.k[i][:, :n + 1].transpose(1, 2)) / math.sqrt(hd)
        att = torch.softmax(att.reshape(rows, kvh * rep, n + 1) + maskadd, -1)
        y = torch.bmm(att.reshape(rows * kvh, rep, n + 1), cache.v[i][:, :n + 1]).reshape(rows, 1, kvh * rep * hd)
        x = x + a.o_proj(y)
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    cache.len = n + 1
    return model.lm_head(m.norm(x))[:, 0]


def sample_tokens(logits, temperature, top_p, gen):
    """Temperature, then nucleus: the smallest set of tokens whose mass reaches top_p."""
    probs = torch.softmax(logits.float() / temperature, -1)
    sp, si = probs.sort(-1, descending=True)
    sp[(sp.cumsum(-1) - sp) >= top_p] = 0
    return si.gather(1, torch.multinomial(sp, 1, generator=gen))[:, 0]


@torch.no_grad()
def start(model, prefixes, k, max_tokens):
    """Encodes the prefixes (token ids, right-padded, one forward) for k samples each: the
    samples' first logits [rows, vocab], their Cache with room for max_tokens, each row's
    prompt length, and the additive mask [rows, 1, P + max_tokens] (the padding's gap and
    the positions not yet decoded masked)."""
    lens = torch.tensor([len(p) for p in prefixes])
    P = int(lens.max())
    ids = torch.full((len(prefixes), P), tokenizer.PAD_ID, dtype=torch.long)
    mask = torch.zeros(len(prefixes), P, dtype=torch.long)
    for b, p in enumerate(prefixes):
        ids[b, :len(p)] = torch.tensor(p)
        mask[b, :len(p)] = 1
    logits, _, past = model(ids, mask, torch.arange(P).unsqueeze(0).expand(len(prefixes), P).contiguous())
    last = logits[torch.arange(len(prefixes)), lens - 1].repeat_interleave(k, 0)
    cache = Cache(model.config, [(pk.repeat_interleave(k, 0), pv.repeat_interleave(k, 0)) for pk, pv in past],
                  P + max_tokens)
    lens = lens.repeat_interleave(k)
    # right-padded prompts leave a masked gap before each row's first new token
    maskadd = torch.full((len(lens), 1, P + max_tokens), -1e9)
    maskadd[:, 0, :P] = (1.0 - mask.repeat_interleave(k, 0).float()) * -1e9
    return last, cache, lens, maskadd


@torch.no_grad()
def rollouts(model, questions, k, executor, max_tokens, temperature, top_p, gen, max_step_tokens=160):
    """k whole trajectories per question: (text, boxed answer or None, error kind) each, k per question in
    order. Each question is encoded once and its samples decode together; a sample that
    closes a code block gets the block's output fed to it token by token (forced), as the
    engine puts it into the context, and a sample ends with its first step that holds
    \\boxed (the engine's final answer, whatever stop string ends that step), or without an
    answer at the engine's limits (a step's tokens, the steps, two code errors in a row)."""
    last, cache, lens, maskadd = start(model, [tokenizer.encode(q) for q in questions], k, max_tokens)
    P = cache.len
    rows = len(lens)
    out = [[] for _ in range(rows)]
    step_start = [0] * rows  # where each row's current step starts in out
    forced = [[] for _ in range(rows)]
    errors = [None] * rows
    answers = [None] * rows
    steps = [0] * rows
    failures = [0] * rows  # code errors in a row
    done = [False] * rows
    for t in range(max_tokens):
        tok = sample_tokens(last, temperature, top_p, gen)
        for b in range(rows):
            if done[b]:
                continue
            if forced[b]:  # an output block's tokens are context, never a stop
                tok[b] = forced[b].pop(0)
                out[b].append(int(tok[b]))
                step_start[b] = len(out[b])
                continue
            out[b].append(int(tok[b]))
            if int(tok[b]) not in STOP_IDS:
                # cut off, as the engine cuts a step at its token limit: no answer
                done[b] = len(out[b]) - step_start[b] >= max_step_tokens
                continue
            steps[b] += 1
            step = tokenizer.decode(out[b][step_start[b]:])
            if "\\boxed{" in step:
                answers[b], done[b] = boxed(step), True  # a step holding \boxed is the final answer, whatever its stop (step.ts)
            else:
                # every code step runs with its block's earlier steps, as in the engine; two
                # errors in a row or too many steps end the trajectory without an answer
                shown, error = executor.run(program(tokenizer.decode(out[b])))
                failures[b] = failures[b] + 1 if error else 0
                errors[b] = errors[b] or error
                done[b] = failures[b] >= ERRORS_THRESHOLD or steps[b] >= MAX_DEPTH
                if tok[b] == END_CODE:
                    forced[b] = tokenizer.encode(f"\n<output>{shown}{OUTPUT_CLOSE}")
            step_start[b] = len(out[b])
        if all(done):
            break
        maskadd[:, 0, P + t] = 0.0
        last = decode_step(model, cache, tok, lens + t, maskadd[:, :, :P + t + 1])
    return [(tokenizer.decode(o), a, e) for o, a, e in zip(out, answers, errors)]


# --------------------------------------------------------------------------- pairs

def problem_pairs(rec, answer_pairs, rnd):
    """The answer pairs and sibling step pairs of one problem's rollouts (see the module doc)."""
    samples = [s for s in rec["samples"] if s["answer"] is not None]
    right = sorted({s["text"] for s in samples if s["correct"]})
    if not right or all(s["correct"] for s in samples):
        return []
    wrong_first = []  # one trajectory per wrong answer first, then the rest
    for s in samples:
        if not s["correct"] and s["text"] not in wrong_first and all(s["answer"] != boxed(w) for w in wrong_first):
            wrong_first.append(s["text"])
    wrong_first += sorted({s["text"] for s in samples if not s["correct"]} - set(wrong_first))
    rnd.shuffle(right)
    q, pairs = rec["question"], []
    grid = sorted(((i, j) for i in range(len(wrong_first)) for j in range(len(right))), key=lambda x: (x[0] + x[1], x[0]))
    for n, (i, j) in enumerate(grid[:answer_pairs]):
        pairs.append({"id": f"{rec['id']}@answer:{n}", "prompt": q, "chosen": right[j], "rejected": wrong_first[i],
                      "chosenQ": 1.0, "rejectedQ": -1.0})
    value, children = {}, {}  # prefix (tuple of shown steps) -> [right, all]; prefix -> {step: child prefix}
    for s in samples:
        steps = split_steps(s["text"])
        for d in range(len(steps)):
            prefix = tuple(shown for _, shown in steps[:d])
            child = prefix + (steps[d][1],)
            children.setdefault(prefix, {})[steps[d][0]] = child
            v = value.setdefault(child, [0, 0])
            v[0] += s["correct"]
            v[1] += 1
    for prefix, kids in children.items():
        if len(kids) < 2:
            continue
        frac = {step: value[c][0] / value[c][1] for step, c in kids.items()}
        good = sorted((s for s in kids if frac[s] > 0), key=lambda s: (-frac[s], s))[:2]
        bad = sorted((s for s in kids if frac[s] < 1), key=lambda s: (frac[s], s))[:2]
        for c in good:
            for r in bad:
                if frac[c] > frac[r] and "<answer>" not in c and code_lines(c) != code_lines(r):
                    pairs.append({"id": f"{rec['id']}@{len(prefix)}", "prompt": q + "".join(prefix), "chosen": c,
                                  "rejected": r, "chosenQ": 2 * frac[c] - 1, "rejectedQ": 2 * frac[r] - 1})
    return pairs


def write_pairs(rollouts_path, pairs_path, answer_pairs, seed):
    rnd = random.Random(seed)
    counts = {"problems": 0, "mixed": 0, "answer": 0, "step": 0}
    tmp = pairs_path + ".tmp"
    with open(rollouts_path) as f, open(tmp, "w") as out:
        for line in f:
            rec = json.loads(line)
            pairs = problem_pairs(rec, answer_pairs, rnd)
            counts["problems"] += 1
            counts["mixed"] += bool(pairs)
            for p in pairs:
                counts["answer" if "@answer:" in p["id"] else "step"] += 1
                out.write(json.dumps(p) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, pairs_path)
    return counts


def write_verified(rollouts_path, sft_path):
    """sft.jsonl: each problem's distinct right texts, in sample order. Returns the count."""
    n = 0
    tmp = sft_path + ".tmp"
    with open(rollouts_path) as f, open(tmp, "w") as out:
        for line in f:
            rec = json.loads(line)
            texts = list(dict.fromkeys(s["text"] for s in rec["samples"] if s["correct"]))
            for i, text in enumerate(texts):
                out.write(json.dumps({"id": f"{rec['id']}#{i}", "query": rec["question"].removesuffix("\n\n"),
                                      "response": text}) + "\n")
            n += len(texts)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, sft_path)
    return n


# --------------------------------------------------------------------------- main

def read_problems(path):
    problems = []
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                p = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"rollout_pairs: {path}:{no}: not valid JSON ({e.msg})")
            for field in ("id", "problem", "answer"):
                if not isinstance(p.get(field), str) or not p[field]:
                    sys.exit(f"rollout_pairs: {path}:{no}: field '{field}' must be a non-empty string")
            problems.append(p)
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policy", required=True, help="a trainer model dir (config.json, pytorch_model.bin)")
    ap.add_argument("--problems", required=True, help="problems JSONL (id, problem, answer), e.g. from rstar data synth-problems")
    ap.add_argument("--out", required=True)
    ap.add_argument("--k", type=int, default=8, help="samples per problem")
    ap.add_argument("--temperature", type=float, default=1.2)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--max-tokens", type=int, default=900, help="most tokens of one trajectory")
    ap.add_argument("--max-step-tokens", type=int, default=160, help="most tokens of one step (the engine's --max-tokens)")
    ap.add_argument("--batch", type=int, default=128, help="samples decoded together")
    ap.add_argument("--answer-pairs", type=int, default=4, help="most answer pairs per problem")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="only the first N problems")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (a decode step 6x faster than fp32 here: bench/rollouts/decode.py)")
    a = ap.parse_args(argv)
    if a.k < 1 or a.batch < a.k or not a.temperature > 0 or not 0 < a.top_p <= 1:
        sys.exit("rollout_pairs: need k >= 1, batch >= k, temperature > 0, 0 < top-p <= 1")
    problems = read_problems(a.problems)
    if a.limit:
        problems = problems[:a.limit]
    torch.set_num_threads(a.threads)
    config = RstarConfig.load(os.path.join(a.policy, "config.json"))
    model = RstarForCausalLM(config)
    model.load_state_dict(torch.load(os.path.join(a.policy, "pytorch_model.bin"), map_location="cpu"))
    model.eval()
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "rollouts.jsonl")
    done = set()
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    done.add(json.loads(line)["id"])
                except json.JSONDecodeError:
                    break  # a line cut by a crash: its problem is sampled again
        # drop a torn last line before appending
        with open(path, "rb+") as f:
            data = f.read()
            f.truncate(data.rfind(b"\n") + 1)
    per = a.batch // a.k
    # batches are fixed slices of the problem list, each seeded by its start: a resumed run
    # samples a batch it had not finished exactly as one run would, and writes what is missing
    batches = [range(c, min(c + per, len(problems))) for c in range(0, len(problems), per)]
    batches = [b for b in batches if any(problems[i]["id"] not in done for i in b)]
    todo = sum(len(b) for b in batches)
    executor = Executor()
    start, n_samples, n_right, n = time.time(), 0, 0, 0
    try:
        with open(path, "a") as f:
            for batch in batches:
                chunk = [problems[i] for i in batch]
                gen = torch.Generator().manual_seed(a.seed * 1_000_003 + batch[0])
                questions = [p["problem"] + "\n\n" for p in chunk]
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                    results = rollouts(model, questions, a.k, executor, a.max_tokens, a.temperature, a.top_p, gen,
                                       a.max_step_tokens)
                for j, p in enumerate(chunk):
                    if p["id"] in done:
                        continue
                    samples = []
                    for text, answer, error in results[j * a.k:(j + 1) * a.k]:
                        correct = answer is not None and answer.strip() == p["answer"].strip()
                        samples.append({"text": text, "answer": answer, "correct": correct, "error": error})
                        n_right += correct
                    n_samples += len(samples)
                    f.write(json.dumps({"id": p["id"], "question": questions[j], "level": p.get("level"),
                                        "gold": p["answer"], "samples": samples}) + "\n")
                f.flush()
                os.fsync(f.fileno())
                n += len(chunk)
                rate = n_samples / (time.time() - start)
                eta = (todo - n) * a.k / rate
                print(f"rollouts: {n}/{todo} problems, {n_samples} samples ({rate:.1f}/s, "
                      f"{n_right / n_samples:.0%} right), {eta / 60:.0f} min left", file=sys.stderr, flush=True)
    finally:
        executor.close()
    counts = write_pairs(path, os.path.join(a.out, "pairs.jsonl"), a.answer_pairs, a.seed)
    print(f"rollout_pairs: {counts['problems']} problems, {counts['mixed']} with right and wrong samples: "
          f"{counts['answer']} answer pairs, {counts['step']} step pairs -> {os.path.join(a.out, 'pairs.jsonl')}",
          file=sys.stderr)
    n = write_verified(path, os.path.join(a.out, "sft.jsonl"))
    print(f"rollout_pairs: {n} verified trajectories -> {os.path.join(a.out, 'sft.jsonl')}", file=sys.stderr)


if __name__ == "__main__":
    main()
