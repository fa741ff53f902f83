// npm's install step for rstar. Nothing to build when the prebuilt addon for this platform
// (the optional dependency rstar-<platform>-<arch>[-<abi>], from npm/) is installed and loads:
// src/util/addon.ts takes it. Otherwise build the addon from source with cmake-js into build/,
// which addon.ts falls back to. RSTAR_BUILD_FROM_SOURCE=1 builds even when a prebuilt is there
// (addon.ts then loads the build).
//
// With neither a prebuilt nor cmake the install FAILS, with a message saying what to install:
// npm shows an install script's output only when it fails, so a warning on success would go
// unseen and every command would then fail later; no command runs without the addon.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));

// The same names as platformPackages() in src/util/addon.ts (npm installs at most one: os/cpu/libc).
const abis = { linux: ['-gnu', '-musl'], win32: ['-msvc'] }[process.platform] ?? [''];
const names = abis.map((abi) => `rstar-${process.platform}-${process.arch}${abi}`);

if (!process.env.RSTAR_BUILD_FROM_SOURCE) {
  for (const name of names) {
    try {
      require(name);
      console.log(`rstar: using the prebuilt addon ${name}`);
      process.exit(0);
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') console.warn(`rstar: the prebuilt addon ${name} does not load here (${e.message}); building from source`);
    }
  }
}

if (spawnSync('cmake', ['--version']).error) {
  console.error(
    `rstar: cannot install the native addon: no prebuilt addon for ${process.platform}-${process.arch} is installed ` +
      `(the optional dependency ${names[0]}) and cmake is not on PATH to build one.\n` +
      `rstar: either install the prebuilt package (npm install ${names[0]}), ` +
      `or install CMake >= 3.20 and a C++20 compiler (g++ >= 12 or clang >= 16), then run \`npm rebuild rstar\`.`,
  );
  process.exit(1);
}
// Installed as a dependency (under node_modules/): the addon only, not the C++ tests and benchmarks.
const asDependency = root.split(sep).includes('node_modules');
const args = ['compile', '--out', 'build', ...(asDependency ? ['--CDRSTAR_BUILD_TESTS=OFF'] : [])];
const build = spawnSync(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), ...args], { cwd: root, stdio: 'inherit' });
process.exit(build.status ?? 1);
