// The compiled addon, loaded once: the prebuilt binary of this platform's package
// (rstar-linux-x64-gnu, an optional dependency of the published package; npm/), else the
// source build (build/Release/rstar.node, built by the install step, scripts/install.mjs, with
// cmake-js, or by node-gyp from binding.gyp). RSTAR_BUILD_FROM_SOURCE=1 skips the prebuilt.
// engine/native.ts presents its arenas; process.ts its process helpers.
import { createRequire } from 'node:module';
import { InputError } from '../errors.js';

/** Which binary was loaded. */
export interface AddonOrigin {
  kind: 'prebuilt' | 'source build';
  path: string;
}

let addon: unknown;
let origin: AddonOrigin | undefined;

/** The platform packages that can hold this machine's prebuilt addon (npm installs at most one: os/cpu/libc); scripts/install.mjs names the same. */
function platformPackages(): string[] {
  const abis = ({ linux: ['-gnu', '-musl'], win32: ['-msvc'] } as Record<string, string[]>)[process.platform] ?? [''];
  return abis.map((abi) => `rstar-${process.platform}-${process.arch}${abi}`);
}

/** The addon's exports; throws saying what to install when there is no binary that loads. */
export function requireAddon(): unknown {
  if (addon !== undefined) return addon;
  const require = createRequire(import.meta.url);
  const candidates: [AddonOrigin['kind'], string][] = [
    ...(process.env['RSTAR_BUILD_FROM_SOURCE'] ? [] : platformPackages().map((name): [AddonOrigin['kind'], string] => ['prebuilt', name])),
    // Both src/util and dist/util sit two levels below the package root.
    ['source build', '../../build/Release/rstar.node'],
  ];
  const failures: string[] = [];
  for (const [kind, id] of candidates) {
    let path: string;
    try {
      path = require.resolve(id);
    } catch {
      continue; // not installed, not built
    }
    try {
      addon = require(path);
    } catch (e) {
      failures.push(`${path} does not load: ${(e as Error).message}`); // e.g. a glibc older than the prebuilt's
      continue;
    }
    origin = { kind, path };
    return addon;
  }
  const [pkg] = platformPackages();
  // Not a bug: the CLI prints it plainly, exit 2.
  throw new InputError(
    `the native addon is missing: ${failures.length ? failures.join('; ') : `neither the prebuilt package ${pkg} is installed nor the source build (build/Release/rstar.node) is there`}. ` +
      `Install the prebuilt package (npm install ${pkg}), or install CMake >= 3.20 and a C++20 compiler and run \`npm rebuild rstar\` ` +
      '(in a clone of the repo: `npm ci` or `npm run build:native`)',
  );
}

/** Which binary requireAddon() loaded (it loads it first). */
export function addonOrigin(): AddonOrigin {
  requireAddon();
  return origin!;
}
