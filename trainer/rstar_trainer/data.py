"""Training data: read and check JSONL, tokenize, plan length-bucketed batches. No torch here.

SFT line: {"query": str, "response": str}. Text = query + "\\n\\n" + response; the loss
covers the response tokens only (the policy's prompt is "{query}\\n\\n").
PPM line: {"prompt": str, "chosen": str, "rejected": str}: one step each under a shared
prefix; the PPM scores the last token of prompt + step.
Other fields on a line are ignored (ids, Q-values, answers, ...).
"""
import json
import math
import random

from . import tokenizer

SFT_FIELDS = ("query", "response")
PPM_FIELDS = ("prompt", "chosen", "rejected")
PROMPT_SEP = "\n\n"


class DataError(Exception):
    """A bad data line: the message starts with file:line: field."""


def _lines(path):
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from None
    with f:
        try:
            for no, line in enumerate(f, 1):
                yield no, line
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_jsonl(path, task):
    """Yields (line_no, record) with the task's fields checked; blank lines are skipped."""
    fields = SFT_FIELDS if task == "sft" else PPM_FIELDS
    for no, line in _lines(path):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{no}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path}:{no}: expected a JSON object with {', '.join(fields)}, "
                            f"got {type(rec).__name__}")
        for k in fields:
            if k not in rec:
                other = "; this looks like PPM data (prompt/chosen/rejected)" if task == "sft" and "chosen" in rec \
                    else "; this looks like SFT data (query/response)" if task == "ppm" and "response" in rec else ""
                raise DataError(f"{path}:{no}: field '{k}' is missing (a {task} line needs "
                                f"{', '.join(fields)}){other}")
            if not isinstance(rec[k], str):
                raise DataError(f"{path}:{no}: field '{k}' must be a string, got {type(rec[k]).__name__}")
        for k in fields:
            if not rec[k]:
                raise DataError(f"{path}:{no}: field '{k}' is empty")
        yield no, rec


def _count_unk(ids):
    return sum(1 for i in ids if i == tokenizer.UNK_ID)


def load(paths, task, max_length, reviewer=False):
    """Tokenized examples + stats. SFT example: (ids, n_prompt); PPM example:
    (prompt_ids, chosen_ids, rejected_ids). Examples longer than max_length tokens (for PPM:
    prompt + the longer step) are dropped and counted, not truncated: a cut response would
    lose its <end_of_answer>. reviewer: an SFT line's response is the prompt and its query
    the target (the question written after the trajectory)."""
    out, stats = [], {"lines": 0, "examples": 0, "dropped_too_long": 0, "unk_tokens": 0,
                      "tokens": 0, "max_tokens": 0}
    if task == "ppm":
        stats["dropped_identical"] = 0
    else:
        stats["response_tokens"] = 0
        stats["no_end_of_answer"] = 0
    for path in paths:
        for _, rec in read_jsonl(path, task):
            stats["lines"] += 1
            if task == "sft":
                query, response = (rec["response"], rec["query"]) if reviewer else (rec["query"], rec["response"])
                p = tokenizer.encode(query + PROMPT_SEP)
                r = tokenizer.encode(response)
                n = len(p) + len(r)
                stats["unk_tokens"] += _count_unk(p) + _count_unk(r)
                if not rec["response"].rstrip().endswith("<end_of_answer>"):  # the trajectory, either way
                    stats["no_end_of_answer"] += 1
                if n > max_length:
                    stats["dropped_too_long"] += 1
                    continue
                out.append((p + r, len(p)))
                stats["response_tokens"] += len(r)
            else:
                if rec["chosen"] == rec["rejected"]:
                    stats["dropped_identical"] += 1
                    continue
                p, c, r = (tokenizer.encode(rec[k]) for k in PPM_FIELDS)
                n = len(p) + max(len(c), len(r))
                stats["unk_tokens"] += _count_unk(p) + _count_unk(c) + _count_unk(r)
                if n > max_length:
                    stats["dropped_too_long"] += 1
                    continue
                out.append((p, c, r))
            stats["tokens"] += n
            stats["max_tokens"] = max(stats["max_tokens"], n)
    stats["examples"] = len(out)
    return out, stats


def example_cost(ex, task):
    """(length used to bucket, padded-token cost of one row) for an example."""
    if task == "sft":
        return len(ex[0])
    return len(ex[0]) + max(len(ex[1]), len(ex[2]))


def plan_batches(examples, task, seed, epoch, batch_tokens=None, batch_size=None, shuffle=True):
    """Length-bucketed batches (lists of example indices) for one epoch, deterministic in
    (seed, epoch) so a resumed run replays the same batches.

    Examples are sorted by length with ~10% random jitter (so batches differ per epoch),
    cut greedily into batches of at most batch_size rows, or of rows * longest row <=
    batch_tokens (a PPM pair counts twice: chosen and rejected rows), and the batch
    order is shuffled."""
    rng = random.Random(f"{seed}:{epoch}")
    lens = [example_cost(ex, task) for ex in examples]
    rows_per = 2 if task == "ppm" else 1
    if shuffle:
        keys = [(n * math.exp(rng.uniform(-0.1, 0.1)), rng.random()) for n in lens]
    else:
        keys = [(n, i) for i, n in enumerate(lens)]
    order = sorted(range(len(examples)), key=lambda i: keys[i])
    batches, cur, longest = [], [], 0
    for i in order:
        n = max(longest, lens[i])
        full = (len(cur) >= batch_size) if batch_size else (cur and (len(cur) + 1) * rows_per * n > batch_tokens)
        if cur and full:
            batches.append(cur)
            cur, n = [], lens[i]
        cur.append(i)
        longest = n
    if cur:
        batches.append(cur)
    if shuffle:
        rng.shuffle(batches)
    return batches
