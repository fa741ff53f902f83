#!/usr/bin/env bash
# Reproduces the shipped models (models/policy, models/ppm) from scratch on the synthetic
# domain, and measures them for the model card (models/README.md):
#   1. SFT data: reference solutions of synthetic problems (levels 1-6, train split).
#   2. The bootstrap policy: a small decoder trained from scratch on them (trainer/train.py).
#   3. Round-1 MCTS with that policy on other train problems of levels 4-6, the levels where
#      it is unsure (terminal-guided values; levels interleaved so a cut run covers all three).
#   4. PPM preference pairs from those trees; a pairwise PPM trained from the policy's weights
#      (measured, not shipped: it reads no better than the policy).
#   5. The policy's own rollouts on more problems of levels 4-6 (trainer/rollout_pairs.py);
#      their verified trajectories and the reference solutions train the reviewer, the PPM
#      that ships as models/ppm: it writes the question after a trajectory, from the policy's
#      weights (trainer/train.py, "reviewer": true).
#   6. Held-out accuracy by level (test split: other seeds and held-out templates):
#      greedy pass@1, and MCTS with the reviewer (and, on the training templates, with the
#      pairwise PPM for comparison).
# Usage: trainer/make_default_models.sh [WORK_DIR]   (a fresh WORK_DIR resumes nothing;
# each step's outputs are kept, and a step whose output exists is skipped on a rerun).
# Sizes via env: SFT_COUNT, SFT_EPOCHS, MCTS_COUNT (per level), MCTS_LIMIT (problems searched),
# MCTS_ROLLOUTS, ROLLOUT_COUNT (problems, levels 4-6), EVAL_COUNT, EVAL_MCTS_COUNT (training
# templates), EVAL_MCTS_TEST_COUNT (held-out).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-runs/default-models}
mkdir -p "$work"
py=/usr/bin/python3
rstar() { node dist/cli/main.js "$@"; }
SFT_COUNT=${SFT_COUNT:-12000}
SFT_EPOCHS=${SFT_EPOCHS:-2}
MCTS_COUNT=${MCTS_COUNT:-300}
MCTS_LIMIT=${MCTS_LIMIT:-180}
MCTS_ROLLOUTS=${MCTS_ROLLOUTS:-16}
ROLLOUT_COUNT=${ROLLOUT_COUNT:-3000}
EVAL_COUNT=${EVAL_COUNT:-300}
EVAL_MCTS_COUNT=${EVAL_MCTS_COUNT:-120}
EVAL_MCTS_TEST_COUNT=${EVAL_MCTS_TEST_COUNT:-60}
start=$(date +%s)
say() { echo "[$(( $(date +%s) - start ))s] $*" >&2; }

[ -f "$work/sft.jsonl" ] || rstar data synth-problems --levels 1-6 --count "$SFT_COUNT" --seed 1 --split train --sft --out "$work/sft.jsonl"
[ -f "$work/sft-eval.jsonl" ] || rstar data synth-problems --levels 1-6 --count 300 --seed 2 --split test --sft --out "$work/sft-eval.jsonl"

if [ ! -d "$work/policy" ]; then
  say "training the policy"
  cat > "$work/policy.json" <<JSON
{
  "task": "sft",
  "base": null,
  "architecture": {"hidden_size": 192, "num_hidden_layers": 4, "num_attention_heads": 6, "num_key_value_heads": 2,
                   "head_dim": 32, "intermediate_size": 512, "max_position_embeddings": 2048},
  "data": ["sft.jsonl"],
  "eval_data": ["sft-eval.jsonl"],
  "out": "policy",
  "epochs": $SFT_EPOCHS,
  "batch_tokens": 8192,
  "lr": 2e-3,
  "warmup": 0.03,
  "seed": 1,
  "bf16": true,
  "threads": 2
}
JSON
  $py trainer/train.py "$work/policy.json" --resume
fi

if [ ! -f "$work/mcts-problems.jsonl" ]; then
  for level in 4 5 6; do
    rstar data synth-problems --levels "$level" --count "$MCTS_COUNT" --seed 3 --split train --out "$work/mcts-L$level.jsonl"
  done
  paste -d '\n' "$work"/mcts-L{4,5,6}.jsonl > "$work/mcts-problems.jsonl"
fi
if [ ! -f "$work/mcts/done" ]; then
  say "round-1 MCTS with the policy"
  # n = 8 at temperature 1.2: the policy is sure of itself, and pairs need siblings that differ
  rstar synth --problems "$work/mcts-problems.jsonl" --limit "$MCTS_LIMIT" --out "$work/mcts" --policy "onnx:$work/policy" --ppm none \
    --rollouts "$MCTS_ROLLOUTS" --n 8 --concurrency 32 --max-tokens 160 --temperature 1.2 --seed 3 --exec-mode incremental
  touch "$work/mcts/done"
fi
[ -f "$work/pairs.jsonl" ] || rstar data select --trees "$work/mcts/trees.jsonl" --pairs "$work/pairs.jsonl" --sft "$work/mcts-sft.jsonl"

if [ ! -d "$work/ppm" ]; then
  say "training the PPM"
  # a tenth of the pairs (whole trees: pairs come tree by tree) held out for the metrics
  held=$(( $(wc -l < "$work/pairs.jsonl") / 10 ))
  head -n "$held" "$work/pairs.jsonl" > "$work/pairs-eval.jsonl"
  tail -n +"$((held + 1))" "$work/pairs.jsonl" > "$work/pairs-train.jsonl"
  cat > "$work/ppm.json" <<JSON
{
  "task": "ppm",
  "base": "policy",
  "data": ["pairs-train.jsonl"],
  "eval_data": ["pairs-eval.jsonl"],
  "out": "ppm",
  "epochs": 3,
  "batch_tokens": 8192,
  "lr": 5e-4,
  "seed": 1,
  "bf16": true,
  "threads": 2
}
JSON
  $py trainer/train.py "$work/ppm.json" --resume
fi

[ -f "$work/rollout-problems.jsonl" ] || rstar data synth-problems --levels 4-6 --count "$ROLLOUT_COUNT" --seed 7 --split train --out "$work/rollout-problems.jsonl"
if [ ! -f "$work/rollouts/sft.jsonl" ]; then
  say "the policy's rollouts (8 a problem)"
  $py trainer/rollout_pairs.py --policy "$work/policy" --problems "$work/rollout-problems.jsonl" --out "$work/rollouts" \
    --k 8 --temperature 1.2 --seed 7 --bf16
fi
if [ ! -d "$work/reviewer" ]; then
  say "training the reviewer"
  cat > "$work/reviewer.json" <<JSON
{
  "task": "sft",
  "reviewer": true,
  "base": "policy",
  "data": ["sft.jsonl", "rollouts/sft.jsonl"],
  "out": "reviewer",
  "epochs": 1,
  "batch_tokens": 8192,
  "lr": 1e-3,
  "warmup": 0.03,
  "seed": 1,
  "bf16": true,
  "threads": 2
}
JSON
  $py trainer/train.py "$work/reviewer.json" --resume
fi

# Held out two ways: new problems of the training templates (split train, another seed), and
# problems that each use a template never seen in training (split test).
for split in train test; do
  seed=$([ "$split" = train ] && echo 5 || echo 4)
  set_=$work/eval-$split
  [ -f "$set_-problems.jsonl" ] || rstar data synth-problems --levels 1-6 --count "$EVAL_COUNT" --seed "$seed" --split "$split" --out "$set_-problems.jsonl"
  # the same seed, fewer problems: the first ones of each level of the set above
  count=$([ "$split" = train ] && echo "$EVAL_MCTS_COUNT" || echo "$EVAL_MCTS_TEST_COUNT")
  [ -f "$set_-mcts-problems.jsonl" ] || rstar data synth-problems --levels 1-6 --count "$count" --seed "$seed" --split "$split" --out "$set_-mcts-problems.jsonl"
  if [ ! -f "$set_-greedy/summary.json" ]; then
    say "greedy evaluation ($split split)"
    rstar eval --problems "$set_-problems.jsonl" --out "$set_-greedy" --greedy --policy "onnx:$work/policy" --ppm none --max-tokens 160 --no-progress
  fi
  mcts() { rstar eval --problems "$set_-mcts-problems.jsonl" --policy "onnx:$work/policy" \
    --rollouts 16 --n 8 --concurrency 32 --max-tokens 160 --temperature 1.2 --seed 4 --no-progress "$@"; }
  if [ ! -f "$set_-mcts/summary.json" ]; then
    say "MCTS evaluation with the reviewer ($split split)"
    mcts --out "$set_-mcts" --ppm "onnx:$work/reviewer"
  fi
  if [ "$split" = train ] && [ ! -f "$set_-mcts-pairwise/summary.json" ]; then
    say "MCTS evaluation with the pairwise PPM ($split split)"
    mcts --out "$set_-mcts-pairwise" --ppm "onnx:$work/ppm"
  fi
done
say "done: $work"
