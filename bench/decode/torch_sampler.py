# The torch side of `npm run bench:decode`: trainer/rollout_pairs.py's sampler (preallocated
# KV cache, grouped-query heads read as views) on the same model and prompts as the engine.
# Reads a JSON job on stdin, prints one JSON line per dtype: the tokens sampled and the seconds.
#
# job: {"model": DIR (with pytorch_model.bin), "prompts": [[ids]], "n": samples per prompt,
#       "max_tokens": K, "temperature": t, "top_p": p, "stop_ids": [...], "threads": 2,
#       "dtypes": ["bf16", "fp32"], "seed": 1, "repeat": 3}
# Each prompt is encoded (right-padded, one forward, not timed), its n samples then decode
# together until every row has sampled a stop id or K tokens; a row's tokens count up to its
# stop, as the engine counts them. One untimed warm-up run, then the fastest of `repeat`.
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "trainer"))

import torch  # noqa: E402

import rollout_pairs as rp  # noqa: E402
from rstar_trainer.model import RstarConfig, RstarForCausalLM  # noqa: E402


@torch.no_grad()
def sample(model, prompts, n, max_tokens, temperature, top_p, stop_ids, gen):
    """Tokens sampled over all rows (each up to and including its stop), and the seconds
    from the end of the prompt forward to the last token."""
    last, cache, lens, maskadd = rp.start(model, prompts, n, max_tokens)
    P = cache.len
    rows = len(lens)
    stops = torch.tensor(sorted(stop_ids))
    started = time.perf_counter()
    done = torch.zeros(rows, dtype=torch.bool)
    tokens = 0
    for t in range(max_tokens):
        tok = rp.sample_tokens(last, temperature, top_p, gen)
        tokens += int((~done).sum())
        done |= torch.isin(tok, stops)
        if bool(done.all()) or t == max_tokens - 1:
            break
        maskadd[:, 0, P + t] = 0.0
        last = rp.decode_step(model, cache, tok, lens + t, maskadd[:, :, :P + t + 1])
    return tokens, time.perf_counter() - started


def main():
    job = json.load(sys.stdin)
    torch.set_num_threads(job["threads"])
    c = RstarConfig.load(os.path.join(job["model"], "config.json"))
    model = RstarForCausalLM(c).eval()
    model.load_state_dict(torch.load(os.path.join(job["model"], "pytorch_model.bin"), map_location="cpu"))
    for dtype in job["dtypes"]:
        gen = torch.Generator().manual_seed(job["seed"])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            args = (model, job["prompts"], job["n"], job["max_tokens"], job["temperature"], job["top_p"], job["stop_ids"], gen)
            sample(*args)  # warm-up
            tokens, seconds = max((sample(*args) for _ in range(job["repeat"])), key=lambda r: r[0] / r[1])
        print(json.dumps({"dtype": dtype, "tokens": tokens, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
