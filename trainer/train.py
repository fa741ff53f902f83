#!/usr/bin/python3
"""Train the policy (SFT) or the PPM from a JSON config; write an ONNX model dir.

  /usr/bin/python3 trainer/train.py CONFIG.json [--resume] [--force]

The contract (config fields, data formats, the out dir, metrics.json) is in
trainer/README.md, "Trainer contract". Progress goes to stderr. Exit status: 0 done,
2 bad config/data (message names file:line: field), 3 torch missing, 128+signal when
interrupted by SIGINT/SIGTERM (checkpoint saved: run again with --resume).
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the working tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from rstar_trainer import config as config_mod  # noqa: E402  (no torch import)

# glibc serves big blocks (every activation tensor here) with fresh mmap()s and unmaps them
# on free; in a VM whose freed pages go back to the host (Firecracker page reporting here)
# each first touch faults, and elementwise ops ran ~10-50x slower than on reused memory
# (bf16 training: ~750 -> ~7,000 tokens/s on one thread). Serving everything from the heap
# and never trimming it fixes that. Tunables are read at process start, hence a re-exec.
MALLOC_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1000000000000"
NO_REEXEC_ENV = "RSTAR_KEEP_MALLOC"  # set to 1 to skip the re-exec

INSTALL = ("training needs python3-torch: apt-get install -y --no-install-recommends "
           "python3-torch python3-onnx libopenblas0-pthread (then run with /usr/bin/python3)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="JSON config (relative paths in it are relative to its directory)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the interrupted run in OUT.tmp (starts fresh if there is none)")
    ap.add_argument("--force", action="store_true", help="replace OUT if it exists (at the end)")
    args = ap.parse_args(argv)
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as e:
        print(f"train.py: {e}", file=sys.stderr)
        return 2
    with open(args.config, encoding="utf-8") as f:
        raw_text = f.read()
    # Thread counts must be set before torch loads OpenBLAS / OpenMP. fp32 matmuls go to
    # OpenBLAS (its own pthreads), everything else (and bf16 matmuls, oneDNN) to OpenMP;
    # they never run at the same time, so both get `threads`.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(cfg["threads"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(cfg["threads"]))
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print(f"train.py: {INSTALL} [{e}; this is {sys.executable}]", file=sys.stderr)
        return 3
    from rstar_trainer.train import TrainError, Trainer
    try:
        return Trainer(cfg, raw_text, resume=args.resume, force=args.force).run()
    except TrainError as e:
        print(f"train.py: {e}", file=sys.stderr)
        return 2


def reexec_with_malloc_tunables():
    tun = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.mmap_max" in tun or os.environ.get(NO_REEXEC_ENV) == "1":
        return
    env = dict(os.environ, GLIBC_TUNABLES=f"{tun}:{MALLOC_TUNABLES}" if tun else MALLOC_TUNABLES)
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


if __name__ == "__main__":
    reexec_with_malloc_tunables()
    sys.exit(main())
