// Presents the N-API addon's arenas (util/addon.ts loads it) as TreeEngines: the CPU arena, and
// the GPU arena when the addon was built with CUDA and a device is usable.
import { addonOrigin, requireAddon, type AddonOrigin } from '../util/addon.js';
import { Flag, nodeArrays, nodeBytes, SelectResult, Terminal, type TreeArrays, type TreeEngine } from './tree.js';

/** The addon's Arena: the engine operations, plus the fused PPM step and the arrays. */
interface NativeArena extends Pick<TreeEngine, 'acquire' | 'release' | 'select' | 'expand' | 'initValues' | 'backup' | 'unwind' | 'readFlags'> {
  scoreFused(nodes: Int32Array, hidden: Float32Array, weight: Float32Array, bias: number, scores: Float32Array): void;
  arrays(): TreeArrays;
}

/** One GPU operation's device work, timed with CUDA events. */
export interface KernelTime {
  /** the operation's NVTX range name, e.g. rstar/gpu/select */
  op: string;
  /** when it started on the device, in ms after timing was turned on */
  startMs: number;
  ms: number;
}

interface NativeGpuArena extends NativeArena {
  setTiming(on: boolean): void;
  takeTimes(): KernelTime[];
  scoreFusedDevice(nodes: Int32Array, hidden: bigint, weight: Float32Array, bias: number, scores: Float32Array): void;
  /** Copies these trees' nodes from the device into the arrays() mirror. */
  download(trees: Int32Array): void;
  synchronize(): void;
}

/**
 * Floats in device memory (the addon's, cudaMalloc): hidden states for CudaTree's
 * scoreFusedDevice when no GPU model holds them. Freed when collected.
 */
export interface DeviceFloats {
  /** copies values to [offset, offset + values.length); returns when they are on the device */
  upload(values: Float32Array, offset?: number): void;
  /** the device address, for scoreFusedDevice */
  readonly pointer: bigint;
  readonly size: number;
}

/** `count` floats on the GPU; throws with cudaStatus()'s reason where no device is usable. */
export function deviceFloats(count: number): DeviceFloats {
  return new (loadAddon().DeviceFloats)(count);
}

/** Whether the GPU arena can run here; reason says why not. */
export interface CudaStatus {
  usable: boolean;
  reason: string;
  /** name, compute capability, multiprocessors and memory, when usable */
  device: string;
}

/** One node array as the addon lays it out (native/include/rstar/node_layout.hpp). */
export interface NodeField {
  name: string;
  /** the typed array that views it, e.g. Int32Array */
  type: string;
  /** bytes per element */
  bytes: number;
}

interface Addon {
  Arena: new (trees: number, nodesPerTree: number) => NativeArena;
  GpuArena: new (trees: number, nodesPerTree: number) => NativeGpuArena;
  DeviceFloats: new (count: number) => DeviceFloats;
  cudaStatus(): CudaStatus;
  constants: Record<string, number>;
  /** the node arrays in layout order */
  nodeLayout: NodeField[];
}

let addon: Addon | undefined;

/** The addon's arenas, loaded once and checked against tree.ts; throws with the build command when it is missing. */
export function loadAddon(): Addon {
  if (addon) return addon;
  const loaded = requireAddon() as Addon;
  checkConstants(loaded.constants);
  checkNodeLayout(loaded.nodeLayout);
  addon = loaded;
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
    nodeBytes, // arenas are sized (validateSearchOptions) with this number
  };
  for (const [name, value] of Object.entries(expected)) {
    if (c[name] !== value) throw new Error(`native addon constant ${name} is ${c[name]}, TypeScript expects ${value}: rebuild the addon`);
  }
}

/**
 * Throws unless the addon's node arrays are tree.ts's nodeArrays, in the same order with
 * the same element types: the arenas' views and the reference's arrays then agree.
 */
export function checkNodeLayout(layout: readonly NodeField[] | undefined): void {
  if (!Array.isArray(layout)) throw new Error('native addon exports no nodeLayout: rebuild the addon');
  const expected: NodeField[] = Object.entries(nodeArrays).map(([name, Type]) => ({ name, type: Type.name, bytes: Type.BYTES_PER_ELEMENT }));
  const show = (f: NodeField) => `${f.name} (${f.bytes}-byte ${f.type})`;
  for (let i = 0; i < Math.max(layout.length, expected.length); i++) {
    const got = layout[i];
    const want = expected[i];
    if (got?.name === want?.name && got?.type === want?.type && got?.bytes === want?.bytes) continue;
    const addon = got ? `native addon node field ${i} is ${show(got)}` : `native addon has no node field ${i}`;
    const ts = want ? `TypeScript's nodeArrays (tree.ts) has ${show(want)}` : `TypeScript's nodeArrays (tree.ts) has no field ${i}`;
    throw new Error(`${addon}, ${ts}: rebuild the addon, or make nodeArrays match node_layout.hpp`);
  }
}

/** The addon's CUDA status, and which binary it is (a prebuilt package's or the source build). */
export function cudaStatus(): CudaStatus & { binary: AddonOrigin } {
  return { ...loadAddon().cudaStatus(), binary: addonOrigin() };
}

export class NativeTree implements TreeEngine {
  readonly name = 'native';
  readonly device = 'cpu';
  readonly arrays: TreeArrays;
  private readonly arena: NativeArena;

  constructor(readonly trees: number, readonly nodesPerTree: number) {
    this.arena = new (loadAddon().Arena)(trees, nodesPerTree);
    this.arrays = this.arena.arrays();
  }

  /** The arrays are views of the arena itself: always current. */
  sync(): void {}
  readFlags(nodes: Int32Array, flags: Uint8Array): void {
    this.arena.readFlags(nodes, flags);
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
  /** The fused PPM step: see Arena::score_fused. */
  scoreFused(nodes: Int32Array, hidden: Float32Array, weight: Float32Array, bias: number, scores: Float32Array): void {
    this.arena.scoreFused(nodes, hidden, weight, bias, scores);
  }
}

/**
 * The trees on the GPU. `arrays` is a host mirror that only sync() updates: each operation
 * marks the trees it touched, and sync() downloads the marked ones among those asked for,
 * in one transfer.
 */
export class CudaTree implements TreeEngine {
  readonly name = 'native';
  readonly device = 'cuda';
  readonly arrays: TreeArrays;
  private readonly arena: NativeGpuArena;
  private readonly stale = new Set<number>();

  constructor(readonly trees: number, readonly nodesPerTree: number) {
    this.arena = new (loadAddon().GpuArena)(trees, nodesPerTree);
    this.arrays = this.arena.arrays();
  }

  sync(trees: Iterable<number>): void {
    const due = new Set<number>();
    for (const tree of trees) if (this.stale.has(tree)) due.add(tree);
    if (due.size === 0) return;
    this.arena.download(Int32Array.from(due));
    // Unmarked only once downloaded: a download that fails leaves them for the next sync.
    for (const tree of due) this.stale.delete(tree);
  }

  readFlags(nodes: Int32Array, flags: Uint8Array): void {
    this.arena.readFlags(nodes, flags);
  }

  /**
   * Times each operation's device work with CUDA events from now on (for traces: recording
   * them costs a little on every call). Returns the host time (performance.now()) that the
   * times' startMs count from.
   */
  timeKernels(): number {
    this.arena.setTiming(true);
    return performance.now();
  }
  /** The timed operations the device has finished since the last call, in call order. */
  kernelTimes(): KernelTime[] {
    return this.arena.takeTimes();
  }

  private touch(nodes: Int32Array): void {
    for (const node of nodes) {
      const tree = Math.floor(node / this.nodesPerTree);
      if (tree >= 0 && tree < this.trees) this.stale.add(tree); // bad indices are the call's to refuse
    }
  }

  acquire(): number {
    const tree = this.arena.acquire();
    if (tree >= 0) this.stale.add(tree);
    return tree;
  }
  release(tree: number): void {
    this.arena.release(tree);
    this.stale.delete(tree);
  }
  // Trees are marked before the call: a call that throws (a deferred unwind error) may
  // still have changed them on the device.
  select(starts: Int32Array, leaves: Int32Array, mode: number, c: number): void {
    this.touch(starts);
    this.arena.select(starts, leaves, mode, c);
  }
  expand(leaves: Int32Array, counts: Int32Array, kinds: Uint8Array, firstChild: Int32Array): void {
    this.touch(leaves);
    this.arena.expand(leaves, counts, kinds, firstChild);
  }
  initValues(nodes: Int32Array, values: Float32Array): void {
    this.touch(nodes);
    this.arena.initValues(nodes, values);
  }
  backup(nodes: Int32Array, values: Float32Array): void {
    this.touch(nodes);
    this.arena.backup(nodes, values);
  }
  unwind(nodes: Int32Array): void {
    this.touch(nodes);
    this.arena.unwind(nodes);
  }
  scoreFused(nodes: Int32Array, hidden: Float32Array, weight: Float32Array, bias: number, scores: Float32Array): void {
    this.touch(nodes);
    this.arena.scoreFused(nodes, hidden, weight, bias, scores);
  }
  /**
   * scoreFused with the hidden states already on the device, never copied through the host:
   * nodes.length rows of weight.length floats, in DeviceFloats (checked to hold them) or at a
   * device address (a GPU model's output tensor; unchecked). The work that wrote them must be
   * complete.
   */
  scoreFusedDevice(nodes: Int32Array, hidden: DeviceFloats | bigint, weight: Float32Array, bias: number, scores: Float32Array): void {
    if (typeof hidden !== 'bigint' && hidden.size < nodes.length * weight.length) {
      throw new RangeError(`scoreFusedDevice: hidden holds ${hidden.size} floats, not the ${nodes.length} rows of ${weight.length} the nodes need`);
    }
    this.touch(nodes);
    this.arena.scoreFusedDevice(nodes, typeof hidden === 'bigint' ? hidden : hidden.pointer, weight, bias, scores);
  }
}
