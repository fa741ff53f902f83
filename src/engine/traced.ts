// A TreeEngine whose batch operations each become a slice on the trace's "engine" track
// (the operation, and how many nodes it touched), around the engine the search runs. Only the
// search's own calls are timed: what happens inside (a GPU kernel's own time) is the native
// core's to report, and on the GPU it does: with a trace that takes spans, each operation's
// device work, timed by CUDA events, goes on a "gpu" track (as the device's clock has it,
// shifted to the host's at the moment timing began). sync() and readFlags() are timed on
// the GPU only, where they are transfers (on the CPU they do nothing or read memory, and
// they are frequent).
// A class with plain methods, not closures: at a simulated model's pace the engine calls are
// the trace's most frequent events, and a closure per call cost 8% of the search's time.
import type { Timeline } from '../util/trace.js';
import { CudaTree } from './native.js';
import type { Device, TreeArrays, TreeEngine } from './tree.js';

const track = 'engine';

export class TracedEngine implements TreeEngine {
  readonly name: 'native' | 'reference';
  readonly device: Device;
  readonly trees: number;
  readonly nodesPerTree: number;
  /** On the GPU, with a trace that takes them: the operations' device times, as the CUDA events measured them. */
  private readonly kernels: { engine: CudaTree; origin: number } | undefined;

  constructor(
    private readonly engine: TreeEngine,
    private readonly trace: Timeline,
  ) {
    this.name = engine.name;
    this.device = engine.device;
    this.trees = engine.trees;
    this.nodesPerTree = engine.nodesPerTree;
    if (engine instanceof CudaTree && trace.span !== undefined) this.kernels = { engine, origin: engine.timeKernels() };
  }

  /** The device times of the operations finished so far, as slices on the "gpu" track. */
  private drainKernels(): void {
    if (this.kernels === undefined) return;
    for (const k of this.kernels.engine.kernelTimes()) this.trace.span!('gpu', k.op.slice('rstar/gpu/'.length), this.kernels.origin + k.startMs, k.ms);
  }

  get arrays(): TreeArrays {
    return this.engine.arrays;
  }

  sync(trees: Iterable<number>): void {
    if (this.device === 'cpu') return this.engine.sync(trees);
    const start = this.trace.now();
    this.engine.sync(trees);
    this.trace.slice(track, 'sync', start, trees instanceof Set ? trees.size : Array.isArray(trees) ? trees.length : -1);
    this.drainKernels();
  }

  readFlags(nodes: Int32Array, flags: Uint8Array): void {
    if (this.device === 'cpu') return this.engine.readFlags(nodes, flags);
    const start = this.trace.now();
    this.engine.readFlags(nodes, flags);
    this.trace.slice(track, 'readFlags', start, nodes.length);
    this.drainKernels();
  }

  acquire(): number {
    return this.engine.acquire();
  }

  release(tree: number): void {
    this.engine.release(tree);
  }

  select(starts: Int32Array, leaves: Int32Array, mode: number, c: number): void {
    const start = this.trace.now();
    this.engine.select(starts, leaves, mode, c);
    this.trace.slice(track, 'select', start, starts.length);
    this.drainKernels();
  }

  expand(leaves: Int32Array, counts: Int32Array, kinds: Uint8Array, firstChild: Int32Array): void {
    const start = this.trace.now();
    this.engine.expand(leaves, counts, kinds, firstChild);
    this.trace.slice(track, 'expand', start, leaves.length);
    this.drainKernels();
  }

  initValues(nodes: Int32Array, values: Float32Array): void {
    const start = this.trace.now();
    this.engine.initValues(nodes, values);
    this.trace.slice(track, 'initValues', start, nodes.length);
    this.drainKernels();
  }

  backup(nodes: Int32Array, values: Float32Array): void {
    const start = this.trace.now();
    this.engine.backup(nodes, values);
    this.trace.slice(track, 'backup', start, nodes.length);
    this.drainKernels();
  }

  unwind(nodes: Int32Array): void {
    const start = this.trace.now();
    this.engine.unwind(nodes);
    this.trace.slice(track, 'unwind', start, nodes.length);
    this.drainKernels();
  }

  scoreFused(nodes: Int32Array, hidden: Float32Array, weight: Float32Array, bias: number, scores: Float32Array): void {
    const start = this.trace.now();
    this.engine.scoreFused(nodes, hidden, weight, bias, scores);
    this.trace.slice(track, 'scoreFused', start, nodes.length);
    this.drainKernels();
  }
}
