#!/usr/bin/env bash
# Packs what a release publishes, into OUT (default pack/):
#   rstar-linux-x64-gnu-VERSION.tgz  the prebuilt addon (npm/linux-x64-gnu: os/cpu/libc pick it)
#   rstar-VERSION.tgz                the main package, naming it in optionalDependencies
# Publish the platform package first: npm publish OUT/rstar-linux-x64-gnu-*.tgz && npm publish OUT/rstar-[0-9]*.tgz
#
# The napi steps run on a staged copy of the packed main package, never on the repo: the repo's
# package.json cannot list the platform package (it is not on the registry until published,
# and `npm ci` in a fresh clone then fails: "Missing: rstar-linux-x64-gnu@ from lock file").
# RSTAR_CUDA=AUTO packs without the CUDA kernels where there is no nvcc (tests only).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(realpath -m "${1:-pack}")
target=linux-x64-gnu  # package.json napi.targets; the only one built so far
napi="$root/node_modules/.bin/napi"
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# 1. The addon the platform package ships: sm_90 SASS + compute_90 PTX (CMake's default
#    CMAKE_CUDA_ARCHITECTURES, native/CMakeLists.txt) and static cudart, so it loads on a machine
#    without a GPU or libcudart. Its own build dir: build/ stays the source build that tests use.
"$root/node_modules/.bin/cmake-js" compile --out build-prebuilt --CDRSTAR_CUDA="${RSTAR_CUDA:-ON}" --CDRSTAR_BUILD_TESTS=OFF
mkdir -p "$stage/artifacts"
cp build-prebuilt/Release/rstar.node "$stage/artifacts/rstar.$target.node"

# 2. The main package as npm packs it (runs `prepare`: tsc), unpacked to stage the release in.
tgz=$(npm pack --silent --pack-destination "$stage")
tar -xzf "$stage/$tgz" -C "$stage"
cp -r npm "$stage/package/npm"

# 3. napi artifacts: artifacts/rstar.linux-x64-gnu.node -> npm/linux-x64-gnu/ (it also drops a
#    copy at the package root, for napi-rs's own loader; `files` leaves it out of the tarball).
# 4. napi pre-publish: syncs the platform packages' versions and writes optionalDependencies into
#    the main package.json; --skip-optional-publish: pack here, publish later;
#    --no-gh-release: it would make a GitHub release (and reads git, which the stage is not).
(cd "$stage/package" &&
  "$napi" artifacts --output-dir ../artifacts --npm-dir npm &&
  "$napi" pre-publish --npm-dir npm --skip-optional-publish --no-gh-release)

# 5. The tarballs. --ignore-scripts: dist/ is built already (step 2), and the stage has no sources.
(cd "$stage/package" && npm pack --silent --ignore-scripts --pack-destination "$out" >/dev/null)
(cd "$stage/package/npm/$target" && npm pack --silent --ignore-scripts --pack-destination "$out" >/dev/null)
ls -1 "$out"/*.tgz
