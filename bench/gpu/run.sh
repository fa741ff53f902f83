#!/usr/bin/env bash
# The GPU check, for a machine with a CUDA GPU, cmake and nvcc (no Node needed): builds the
# native core with the CUDA kernels, runs the C++ tests, the CPU-vs-GPU parity test (also
# a short run under compute-sanitizer when it is there), the kernel benchmark and, when ncu
# can read the GPU, each kernel's device time alone; then, when bench/gpu/pack.sh was run
# here and the run carries bench/gpu/carry, the Node part: the TypeScript device test and
# `rstar bench search` (the whole scheduler, CPU arena vs GPU arena). It prints a summary
# last. The C++ part took about a minute on an H200 (2026-11-30), most of it the build and
# the sanitizer.
#
#   bash bench/gpu/run.sh [kernel_bench arguments...]
#
# Environment: BUILD_DIR (default build-gpu), OUT (where logs go; default BUILD_DIR),
# CUDA_ARCHS (default 90-real;90-virtual, i.e. sm_90 plus PTX), SEARCH_ARGS (rstar bench
# search's flags; default --rollouts 4).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build-gpu}
out=${OUT:-$build}
mkdir -p "$build" "$out"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

log() { printf '\n== %s\n' "$*"; }

log "device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu --format=csv \
  2>&1 | tee "$out/device.txt" || true
{ nvcc --version || /usr/local/cuda/bin/nvcc --version; } 2>/dev/null | tail -1 || true

log "build (RSTAR_CUDA=ON)"
start=$(date +%s)
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DRSTAR_CUDA=ON \
  "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHS:-90-real;90-virtual}" > "$out/build.txt" 2>&1 \
  || { tail -40 "$out/build.txt"; exit 1; }
cmake --build "$build" -j "$(nproc)" >> "$out/build.txt" 2>&1 || { tail -40 "$out/build.txt"; exit 1; }
tail -2 "$out/build.txt"
echo "built in $(( $(date +%s) - start )) s"

status=0
log "C++ tests"
"$build/native/arena_test" 2>&1 | tee "$out/arena_test.txt" || status=1

log "parity: CPU vs GPU"
set +e
"$build/native/gpu_parity_test" 2>&1 | tee "$out/parity.txt"
parity=${PIPESTATUS[0]}
set -e
[ "$parity" -eq 0 ] || status=1

if command -v compute-sanitizer >/dev/null; then
  log "parity under compute-sanitizer (memcheck, synccheck)"
  for tool in memcheck synccheck; do
    set +e
    compute-sanitizer --tool "$tool" --error-exitcode 3 "$build/native/gpu_parity_test" --quick \
      > "$out/sanitizer-$tool.txt" 2>&1
    rc=$?
    set -e
    case $rc in
      0) echo "$tool: clean" ;;
      3) echo "$tool: FOUND ERRORS (see $out/sanitizer-$tool.txt)"; tail -20 "$out/sanitizer-$tool.txt"; status=1 ;;
      1) echo "$tool: the parity test failed under it"; tail -5 "$out/sanitizer-$tool.txt"; status=1 ;;
      # Some machines refuse the sanitizer ("Device not supported"): not a finding.
      *) echo "$tool: could not run (exit $rc)"; tail -5 "$out/sanitizer-$tool.txt" ;;
    esac
  done
fi

log "kernel benchmark"
set +e
"$build/native/kernel_bench" "$@" 2>&1 | tee "$out/bench.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
set -e

# The bench's GPU column times whole calls: host checks and grouping, copies, launches and
# kernels. ncu gives the kernels alone; the difference is the host side (on 2026-11-30 it
# was most of each call: bench/RESULTS.md). Rollout kernels with a 64-wide head, then the
# 1,536-wide fused step alone (its launches come after the 4 + 3 rollouts' 7).
kernels=""
if command -v ncu >/dev/null; then
  log "kernel device times (ncu, 65,536 trees)"
  profile=(ncu --clock-control none --metrics gpu__time_duration.sum --csv)
  small=(--trees 65536 --warmup 4 --repeats 3)
  set +e
  { "${profile[@]}" "$build/native/kernel_bench" "${small[@]}" --hidden 64 &&
    echo "== (head 1536)" &&
    "${profile[@]}" --kernel-name score_fused_kernel --launch-skip 7 "$build/native/kernel_bench" "${small[@]}"
  } > "$out/ncu.csv" 2>&1
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    kernels=$(awk -f bench/gpu/ncu_summary.awk "$out/ncu.csv")
    echo "$kernels"
  else
    # gVisor machines refuse the counters ("LibraryNotLoaded"): not a finding.
    echo "ncu could not profile (exit $rc):"; grep -m3 -E "ERR|rror" "$out/ncu.csv" || tail -3 "$out/ncu.csv"
  fi
fi

# The Node part, when bench/gpu/pack.sh made bench/gpu/carry (and the run carried it): the
# TypeScript device test and the whole search on the CPU and GPU arenas, with a Node binary
# unpacked here (the GPU machine has none).
search=""
if [ -f bench/gpu/carry/node.xz ]; then
  log "Node: the device test and rstar bench search"
  nodedir=$(mktemp -d)
  xz -dc bench/gpu/carry/node.xz > "$nodedir/node"
  chmod +x "$nodedir/node"
  tar -C "$nodedir" -xJf bench/gpu/carry/app.tar.xz
  set +e
  (cd "$nodedir/app" && ../node --test test-dist/test/device.test.js) > "$out/node-device.txt" 2>&1
  rc=$?
  grep -E "^# (pass|fail|skipped)" "$out/node-device.txt"
  [ "$rc" -eq 0 ] || { tail -30 "$out/node-device.txt"; status=1; }
  (cd "$nodedir/app" && ../node dist/cli/main.js bench search ${SEARCH_ARGS:---rollouts 4}) 2>&1 | tee "$out/search.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  set -e
  search=$(grep -E "^\|" "$out/search.txt" || true)
fi

log "summary"
head -1 "$out/device.txt" >/dev/null 2>&1 && sed -n 2p "$out/device.txt"
grep -E "^gpu_parity_test|^PASSED|^FAILED|^skipped" "$out/parity.txt" || true
sed -n '/^trees /,$p' "$out/bench.txt"
[ -z "$kernels" ] || { echo; echo "$kernels"; }
[ -z "$search" ] || { echo; echo "rstar bench search:"; echo "$search"; }
exit $status
