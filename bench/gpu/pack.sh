#!/usr/bin/env bash
# Packs what the Node part of bench/gpu/run.sh needs, for a GPU machine that has no Node.js:
# bench/gpu/carry/ (ignored by git) gets node.xz (this machine's node binary, xz-compressed:
# it needs only libc and libstdc++) and app.tar.xz (dist/, the built addon with its CUDA
# kernels, test/device.test.ts compiled to JavaScript, and the runtime packages that
# `rstar bench search` and that test import, with their dependencies). The device tool
# carries at most 64 MiB; this script fails above 60. Build the addon first (npm ci, or
# npx cmake-js compile --out build) on a machine with nvcc: it then has the kernels.
#   bash bench/gpu/pack.sh   then   run: bash bench/gpu/run.sh, carry: ["bench/gpu/carry"]
set -euo pipefail
cd "$(dirname "$0")/../.."
carry=bench/gpu/carry
addon=build/Release/rstar.node
[ -f "$addon" ] || { echo "pack: no $addon: build the addon first (npx cmake-js compile --out build)"; exit 2; }
# an addon built without nvcc has no kernels to test: say so rather than carry it
if node -e "const a=require('./$addon'); process.exit(/has no CUDA kernels/.test(a.cudaStatus().reason) ? 1 : 0)"; then :; else
  echo "pack: $addon was built without the CUDA kernels (no nvcc on PATH when it was built)"; exit 2
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
app=$stage/app
mkdir -p "$app/build/Release" "$carry"
npm run --silent build:ts
cp -r dist package.json "$app/"
cp "$addon" "$app/build/Release/"
# the device test, compiled: the GPU machine has no tsx (and no esbuild binary to run it)
npx tsc -p bench/gpu/tsconfig.pack.json --outDir "$app/test-dist"
ln -s ../build "$app/test-dist/build" # test-dist/src/util/addon.js looks two levels up
for dir in $(node bench/gpu/deps.mjs yargs piscina cli-progress); do
  mkdir -p "$app/$(dirname "$dir")"
  cp -r "$dir" "$app/$dir"
done
tar -C "$stage" -cJf "$carry/app.tar.xz" app
xz -T2 -6 -c "$(command -v node)" > "$carry/node.xz"
total=$(du -cb "$carry"/* | tail -1 | cut -f1)
du -h "$carry"/*
echo "pack: $((total / 1024 / 1024)) MiB in $carry ($(node --version))"
[ "$total" -le $((60 * 1024 * 1024)) ] || { echo "pack: more than 60 MiB: the device tool carries 64 MiB at most"; exit 1; }
