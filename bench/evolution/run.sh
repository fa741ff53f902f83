#!/usr/bin/env bash
# The self-evolution proof on the synthetic domain (docs/EVOLUTION.md): a deliberately weak
# bootstrap policy (reference solutions of levels 1-3 only), then `rstar evolve` over a pool of
# levels 1-6 (training templates), evaluated each round on held-out problems of the training
# templates and of the held-out templates. CPU only; resumable: rerun the same command.
#   bench/evolution/run.sh [OUT]          (default runs/evolution)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-runs/evolution}")
rstar() { node dist/cli/main.js "$@"; }
python=${PYTHON:-/usr/bin/python3}
mkdir -p "$out/data"

# Problems: the bootstrap's SFT data (levels 1-3), the pool, and two held-out eval sets. Seeds
# differ, so no eval problem is a pool or bootstrap problem (the generator's ids say the seed).
[ -f "$out/data/bootstrap-sft.jsonl" ] || rstar data synth-problems --levels 1-3 --count 8000 --seed 11 --split train --sft --out "$out/data/bootstrap-sft.jsonl"
[ -f "$out/data/pool.jsonl" ] || rstar data synth-problems --levels 1-6 --count 96 --seed 21 --split train --out "$out/data/pool.jsonl"
[ -f "$out/data/eval-train-templates.jsonl" ] || rstar data synth-problems --levels 1-6 --count 36 --seed 31 --split train --out "$out/data/eval-train-templates.jsonl"
[ -f "$out/data/eval-heldout-templates.jsonl" ] || rstar data synth-problems --levels 1-6 --count 36 --seed 41 --split test --out "$out/data/eval-heldout-templates.jsonl"

# The bootstrap: the shipped policy's architecture, trained from scratch on levels 1-3 only,
# long enough to copy numbers (3,000 examples x 2 epochs was not: it solved 4 of 48 L1-3 pool
# problems, misreading the numbers).
if [ ! -d "$out/bootstrap" ]; then
  cat > "$out/bootstrap.json" <<JSON
{"task": "sft", "architecture": {"hidden_size": 192, "num_hidden_layers": 4, "num_attention_heads": 6, "num_key_value_heads": 2,
 "head_dim": 32, "intermediate_size": 512, "max_position_embeddings": 2048},
 "data": ["data/bootstrap-sft.jsonl"], "out": "bootstrap", "epochs": 3, "batch_tokens": 8192, "lr": 2e-3, "seed": 1, "bf16": true, "threads": 2}
JSON
  "$python" trainer/train.py "$out/bootstrap.json" --resume
fi

cat > "$out/evolve.json" <<JSON
{
  "pool": ["$out/data/pool.jsonl"],
  "eval": ["$out/data/eval-train-templates.jsonl", "$out/data/eval-heldout-templates.jsonl"],
  "policy": "onnx:$out/bootstrap",
  "rounds": 4,
  "rollouts": 8, "n": 4, "temperature": 1.0,
  "round": {"4": {"problems": "unsolved", "rollouts": 32}},
  "evalRollouts": 8, "evalN": 4,
  "concurrency": 16, "threads": 2, "device": "cpu", "seed": 7,
  "trainPolicy": {"epochs": 3, "lr": 1e-4, "bf16": true, "threads": 2},
  "trainPpm": {"epochs": 2, "lr": 1e-3, "bf16": true, "threads": 2}
}
JSON
rstar evolve --config "$out/evolve.json" --out "$out/run" --no-progress
