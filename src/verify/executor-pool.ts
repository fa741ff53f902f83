// The pool of Python interpreters: one piscina worker thread per lane, each owning one
// interpreter. A lane is a Piscina of one thread, so a tree's programs can be sent to the
// interpreter that holds its saved states (incremental mode); cumulative batches are split
// evenly over all lanes.
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Piscina } from 'piscina';
import { workerFile } from '../util/worker-file.js';
import { executorDefaults, type ExecRequest, type ExecResult, type ExecutorOptions } from './executor.js';
import type { ExecutorTask } from './executor-worker.js';

export interface PoolOptions extends Partial<ExecutorOptions> {
  /** interpreters (default: one per core) */
  workers?: number;
}

export class ExecutorPool {
  readonly lanes: Piscina[];
  private readonly scratch: string;
  /** drops in flight: close() waits for them */
  private readonly drops = new Set<Promise<void>>();

  constructor(options: PoolOptions = {}) {
    const { workers = availableParallelism(), scratch, ...rest } = options;
    if (!(Number.isInteger(workers) && workers >= 1)) throw new RangeError(`workers must be an integer >= 1 (got ${workers})`);
    this.scratch = scratch ?? join(tmpdir(), `rstar-exec-${process.pid}-${Date.now().toString(36)}`);
    const filename = workerFile(import.meta.url, './executor-worker');
    this.lanes = Array.from(
      { length: workers },
      (_, i) =>
        new Piscina({
          filename,
          minThreads: 1,
          maxThreads: 1,
          idleTimeout: Number.POSITIVE_INFINITY,
          workerData: { options: { ...executorDefaults, ...rest, scratch: join(this.scratch, `w${i}`) } },
        }),
    );
  }

  /** Starts every interpreter; resolves with what each said (Python version, isolation...). */
  async hello(): Promise<Record<string, unknown>[]> {
    return Promise.all(this.lanes.map((lane) => lane.run({ hello: true } satisfies ExecutorTask) as Promise<Record<string, unknown>>));
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
        const out = (await this.lanes[lane]!.run({ run: indices.map((i) => requests[i]!) } satisfies ExecutorTask)) as ExecResult[];
        indices.forEach((i, k) => (results[i] = out[k]!));
      }),
    );
    return results;
  }

  /** Forgets a finished tree's saved states. Never rejects: a state not dropped only waits for the LRU bound. */
  drop(tree: string): Promise<void> {
    const done: Promise<void> = this.lanes[this.laneOf(tree)]!.run({ drop: tree } satisfies ExecutorTask)
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => this.drops.delete(done));
    this.drops.add(done);
    return done;
  }

  async close(): Promise<void> {
    await Promise.all(this.drops);
    await Promise.all(this.lanes.map((lane) => lane.destroy()));
    rmSync(this.scratch, { recursive: true, force: true });
  }

  private laneOf(tree: string): number {
    let h = 0;
    for (let i = 0; i < tree.length; i++) h = (h * 31 + tree.charCodeAt(i)) | 0;
    return Math.abs(h) % this.lanes.length;
  }
}
