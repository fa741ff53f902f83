// The grader the search uses with real policies: `equivalent` (grader.ts) in a pool of
// worker threads, each comparison bounded in time. The compute engine can run for an hour
// on some inputs (nested sums of a billion terms), and synchronous code cannot be
// interrupted from inside, so a watchdog in this thread stops the worker instead: piscina
// terminates it when its task is aborted and starts a replacement. The comparison that ran
// too long is reported as an error; the rest of its batch is graded again elsewhere.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { workerFile } from '../util/worker-file.js';
import { SharedResults, type GradeResult } from './grader-shared.js';
import type { GradeTask } from './grader-worker.js';
import type { GradeRequest, Grader } from '../engine/backend.js';
import { UsageError } from '../errors.js';
import type { Trace } from '../util/trace.js';

export type { GradeResult } from './grader-shared.js';

export interface MathGraderOptions {
  /** worker threads (default: 2, at most the cores) */
  threads: number;
  /** the longest one comparison may run, in ms; measured from when a worker starts it */
  timeLimitMs: number;
  /** heap limit of a worker, in MB: a comparison that needs more fails instead of the process */
  workerHeapMb: number;
  /** each batch a worker compares becomes a slice on the "grader" tracks */
  trace?: Trace | undefined;
}

export const mathGraderDefaults: MathGraderOptions = {
  threads: Math.min(2, availableParallelism()),
  timeLimitMs: 2000,
  workerHeapMb: 512,
};

export interface PredGold {
  pred: string;
  gold: string;
}

/** A batch in a worker, as the watchdog sees it. */
interface Running {
  shared: SharedResults;
  epoch: number;
  controller: AbortController;
  /** the comparison the watchdog stopped (-1: none) */
  timedOut: number;
}

export class MathGrader implements Grader {
  readonly name = 'math';
  readonly options: MathGraderOptions;
  readonly pool: Piscina;
  /** comparisons stopped at the time limit, and workers lost otherwise (out of memory...) */
  readonly stats = { comparisons: 0, timeouts: 0, crashes: 0 };
  private readonly running = new Set<Running>();
  private watchdog: NodeJS.Timeout | undefined;

  constructor(options: Partial<MathGraderOptions> = {}) {
    this.options = { ...mathGraderDefaults, ...options };
    const { threads, timeLimitMs, workerHeapMb } = this.options;
    if (!(Number.isInteger(threads) && threads >= 1)) throw new UsageError(`threads must be an integer >= 1 (got ${threads})`);
    if (!(timeLimitMs > 0)) throw new UsageError(`the time limit must be > 0 ms (got ${timeLimitMs})`);
    if (!(workerHeapMb >= 16)) throw new UsageError(`the worker heap must be >= 16 MB (got ${workerHeapMb})`);
    this.pool = new Piscina({
      filename: workerFile(import.meta.url, './grader-worker'),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      resourceLimits: { maxOldGenerationSizeMb: workerHeapMb },
    });
  }

  async grade(requests: GradeRequest[]): Promise<boolean[]> {
    const results = await this.compare(requests.map(({ answer, gold }) => ({ pred: answer, gold })));
    return results.map((r) => r.equal);
  }

  /** Grades every pair, one result each in order; a comparison that failed or timed out has `error`. */
  async compare(pairs: readonly PredGold[]): Promise<GradeResult[]> {
    const results = new Array<GradeResult>(pairs.length);
    // a few batches per thread: big enough to make messages cheap, small enough to balance
    const size = Math.max(1, Math.min(64, Math.ceil(pairs.length / (4 * this.options.threads))));
    const batches: Promise<void>[] = [];
    for (let from = 0; from < pairs.length; from += size) {
      const indices = Array.from({ length: Math.min(size, pairs.length - from) }, (_, k) => from + k);
      batches.push(this.runBatch(indices, pairs, results));
    }
    await Promise.all(batches);
    this.stats.comparisons += pairs.length;
    return results;
  }

  /** Stops the workers; the grader cannot be used afterwards. */
  async close(): Promise<void> {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    await this.pool.destroy();
  }

  /** Runs the batch until every comparison has a result, resubmitting what a stopped worker left undone. */
  private async runBatch(indices: number[], pairs: readonly PredGold[], results: GradeResult[]): Promise<void> {
    let todo = indices;
    while (todo.length > 0) {
      const run: Running = { shared: new SharedResults(todo.length), epoch: Date.now(), controller: new AbortController(), timedOut: -1 };
      const task: GradeTask = { pairs: todo.map((i) => [pairs[i]!.pred, pairs[i]!.gold]), buffer: run.shared.buffer, epoch: run.epoch };
      let lost: { at: number; error: string } | undefined;
      this.track(run);
      const traced = this.options.trace?.start('grader');
      try {
        await this.pool.run(task, { signal: run.controller.signal });
      } catch (e) {
        lost = this.whatWasLost(run, e);
      } finally {
        this.untrack(run);
        traced?.('compare', todo.length);
      }
      const rest: number[] = [];
      todo.forEach((i, k) => {
        const result = run.shared.result(k) ?? (k === lost?.at ? { equal: false, error: lost.error } : undefined);
        if (result) results[i] = result;
        else rest.push(i);
      });
      if (lost !== undefined && lost.at < 0 && rest.length === todo.length) {
        // the worker died before comparing anything (it could not even start): retrying would loop
        for (const i of rest) results[i] = { equal: false, error: lost.error };
        return;
      }
      todo = rest;
    }
  }

  /** Which comparison a failed task was on, and what to report for it. */
  private whatWasLost(run: Running, e: unknown): { at: number; error: string } {
    if (run.timedOut >= 0) {
      this.stats.timeouts++;
      return { at: run.timedOut, error: `timed out after ${this.options.timeLimitMs} ms` };
    }
    this.stats.crashes++;
    const message = e instanceof Error ? e.message : String(e);
    return { at: run.shared.running()?.index ?? -1, error: `worker failed: ${message}` };
  }

  private track(run: Running): void {
    this.running.add(run);
    if (this.watchdog === undefined) {
      // checks a few times per time limit: a comparison is stopped at most a tick late
      const tick = Math.max(1, Math.min(50, Math.floor(this.options.timeLimitMs / 4)));
      this.watchdog = setInterval(() => this.check(), tick);
    }
  }

  private untrack(run: Running): void {
    this.running.delete(run);
    if (this.running.size === 0) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
  }

  private check(): void {
    const now = Date.now();
    for (const run of this.running) {
      const current = run.shared.running();
      if (current === undefined || run.timedOut >= 0) continue;
      if (now - run.epoch - current.startedAt > this.options.timeLimitMs) {
        run.timedOut = current.index;
        run.controller.abort();
      }
    }
  }
}
