// One stage of the search pipeline: items wait in a queue and the stage takes everything
// waiting as one batch, up to maxBatch, with at most `concurrency` batches running. Items
// pushed during one turn of the event loop land in the same batch. With a trace, each batch
// is a slice on the stage's track (more tracks while several batches run at once).
import type { Timeline } from '../util/trace.js';

export interface StageStats {
  calls: number;
  items: number;
  largestBatch: number;
  /** wall time with at least one batch running */
  busyMs: number;
}

export class Stage<T> {
  readonly stats: StageStats = { calls: 0, items: 0, largestBatch: 0, busyMs: 0 };
  private readonly queue: T[] = [];
  private running = 0;
  private scheduled = false;
  private busySince = 0;

  constructor(
    readonly name: string,
    private readonly run: (batch: T[]) => Promise<void> | void,
    private readonly fail: (error: unknown) => void,
    private readonly maxBatch = Infinity,
    private readonly concurrency = 1,
    private readonly trace?: Timeline,
  ) {}

  push(item: T): void {
    this.queue.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.pump();
      });
    }
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.length <= this.maxBatch ? this.queue.splice(0) : this.queue.splice(0, this.maxBatch);
      if (this.running++ === 0) this.busySince = performance.now();
      this.stats.calls++;
      this.stats.items += batch.length;
      this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
      const traced = this.trace?.start(this.name);
      Promise.resolve()
        .then(() => this.run(batch))
        .catch(this.fail)
        .finally(() => {
          if (--this.running === 0) this.stats.busyMs += performance.now() - this.busySince;
          traced?.(this.name, batch.length);
          this.pump();
        });
    }
  }
}
