// The compiled addon (build/Release/rstar.node, built by `npm ci` through cmake-js or by
// node-gyp from binding.gyp), loaded once. engine/native.ts presents its arenas; process.ts
// its process helpers.
import { createRequire } from 'node:module';

let addon: unknown;

/** The addon's exports; throws with the build command when it is missing. */
export function requireAddon(): unknown {
  if (addon !== undefined) return addon;
  const require = createRequire(import.meta.url);
  try {
    // Both src/util and dist/util sit two levels below the package root.
    addon = require('../../build/Release/rstar.node');
  } catch (cause) {
    throw new Error('the native addon is not built (build/Release/rstar.node): run `npm ci` or `npm run build:native`', { cause });
  }
  return addon;
}
