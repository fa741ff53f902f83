// Loads the N-API addon (build/Release/rstar.node, built by `npm ci` through cmake-js or
// by node-gyp from binding.gyp) and presents its arena as a TreeEngine.
import { createRequire } from 'node:module';
import { Flag, SelectResult, Terminal, type TreeArrays, type TreeEngine } from './tree.js';

interface NativeArena {
  acquire(): number;
  release(tree: number): void;
  select(starts: Int32Array, leaves: Int32Array, mode: number, c: number): void;
  expand(leaves: Int32Array, counts: Int32Array, kinds: Uint8Array, firstChild: Int32Array): void;
  initValues(nodes: Int32Array, values: Float32Array): void;
  backup(nodes: Int32Array, values: Float32Array): void;
  unwind(nodes: Int32Array): void;
  arrays(): TreeArrays;
}

interface Addon {
  Arena: new (trees: number, nodesPerTree: number) => NativeArena;
  constants: Record<string, number>;
}

let addon: Addon | undefined;

/** The addon, loaded once; throws with the build command when it is missing. */
export function loadAddon(): Addon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  try {
    // Both src/engine and dist/engine sit two levels below the package root.
    addon = require('../../build/Release/rstar.node') as Addon;
  } catch (cause) {
    throw new Error('the native addon is not built (build/Release/rstar.node): run `npm ci` or `npm run build:native`', { cause });
  }
  checkConstants(addon.constants);
  return addon;
}

// One name per concept: the addon's numbers must be the ones tree.ts uses.
function checkConstants(c: Record<string, number>): void {
  const expected: Record<string, number> = {
    ...Flag,
    notTerminal: Terminal.none,
    answer: Terminal.answer,
    codeErrors: Terminal.codeErrors,
    tooDeep: Terminal.tooDeep,
    invalid: Terminal.invalid,
    selectExhausted: SelectResult.exhausted,
    selectBlocked: SelectResult.blocked,
  };
  for (const [name, value] of Object.entries(expected)) {
    if (c[name] !== value) throw new Error(`native addon constant ${name} is ${c[name]}, TypeScript expects ${value}: rebuild the addon`);
  }
}

export class NativeTree implements TreeEngine {
  readonly name = 'native';
  readonly arrays: TreeArrays;
  private readonly arena: NativeArena;

  constructor(readonly trees: number, readonly nodesPerTree: number) {
    this.arena = new (loadAddon().Arena)(trees, nodesPerTree);
    this.arrays = this.arena.arrays();
  }

  acquire(): number {
    return this.arena.acquire();
  }
  release(tree: number): void {
    this.arena.release(tree);
  }
  select(starts: Int32Array, leaves: Int32Array, mode: number, c: number): void {
    this.arena.select(starts, leaves, mode, c);
  }
  expand(leaves: Int32Array, counts: Int32Array, kinds: Uint8Array, firstChild: Int32Array): void {
    this.arena.expand(leaves, counts, kinds, firstChild);
  }
  initValues(nodes: Int32Array, values: Float32Array): void {
    this.arena.initValues(nodes, values);
  }
  backup(nodes: Int32Array, values: Float32Array): void {
    this.arena.backup(nodes, values);
  }
  unwind(nodes: Int32Array): void {
    this.arena.unwind(nodes);
  }
}
