// The pool of Python interpreters, one per lane. A tree's programs go to the interpreter
// that holds its saved states (incremental mode); cumulative batches are split evenly over
// all lanes. The interpreters' I/O is asynchronous, so they all live on this thread: a
// worker thread per interpreter only cloned every program and result once more
// (bench/RESULTS.md, "Executor").
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { executorDefaults, PythonProcess, type ExecRequest, type ExecResult, type ExecutorOptions } from './executor.js';
import { UsageError } from '../errors.js';
import type { Trace } from '../util/trace.js';

export interface PoolOptions extends Partial<ExecutorOptions> {
  /** interpreters (default: one per core) */
  workers?: number;
  /** each interpreter's share of a batch becomes a slice on its "executor K" track */
  trace?: Trace | undefined;
}

export class ExecutorPool {
  readonly lanes: PythonProcess[];
  private readonly scratch: string;
  private readonly trace: Trace | undefined;

  constructor(options: PoolOptions = {}) {
    const { workers = availableParallelism(), scratch, trace, ...rest } = options;
    this.trace = trace;
    if (!(Number.isInteger(workers) && workers >= 1)) throw new UsageError(`workers must be an integer >= 1 (got ${workers})`);
    this.scratch = scratch ?? join(tmpdir(), `rstar-exec-${process.pid}-${Date.now().toString(36)}`);
    const lanes: PythonProcess[] = [];
    try {
      for (let i = 0; i < workers; i++) lanes.push(new PythonProcess({ ...executorDefaults, ...rest, scratch: join(this.scratch, `w${i}`) }));
    } catch (e) {
      for (const lane of lanes) lane.close();
      throw e;
    }
    this.lanes = lanes;
  }

  /** Waits for every interpreter; resolves with what each said (Python version, isolation...). */
  async hello(): Promise<Record<string, unknown>[]> {
    return Promise.all(
      this.lanes.map(async (lane) => {
        await lane.whenReady();
        return { ...lane.hello, namespaces: lane.namespaces, starts: lane.starts };
      }),
    );
  }

  /**
   * Runs the programs, one result each in request order. Requests of one tree (incremental
   * mode) go to the same interpreter; the others are spread in contiguous slices.
   */
  async execute(requests: ExecRequest[]): Promise<ExecResult[]> {
    const byLane: number[][] = this.lanes.map(() => []);
    const slice = Math.ceil(requests.length / this.lanes.length);
    requests.forEach((r, i) => byLane[r.tree !== undefined ? this.laneOf(r.tree) : Math.floor(i / slice)]!.push(i));
    const results = new Array<ExecResult>(requests.length);
    await Promise.all(
      byLane.map(async (indices, lane) => {
        if (indices.length === 0) return;
        const start = this.trace?.now();
        const out = await this.lanes[lane]!.run(indices.map((i) => requests[i]!));
        if (start !== undefined) this.trace!.slice(`executor ${lane + 1}`, 'run', start, indices.length);
        indices.forEach((i, k) => (results[i] = out[k]!));
      }),
    );
    return results;
  }

  /** Forgets a finished tree's saved states. */
  drop(tree: string): void {
    this.lanes[this.laneOf(tree)]!.drop(tree);
  }

  async close(): Promise<void> {
    for (const lane of this.lanes) lane.close();
    rmSync(this.scratch, { recursive: true, force: true });
  }

  private laneOf(tree: string): number {
    let h = 0;
    for (let i = 0; i < tree.length; i++) h = (h * 31 + tree.charCodeAt(i)) | 0;
    return Math.abs(h) % this.lanes.length;
  }
}
