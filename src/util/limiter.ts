// At most `slots` async calls in flight; the rest wait in order.
import { UsageError } from '../errors.js';

export class Limiter {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly slots: number) {
    if (!(Number.isInteger(slots) && slots >= 1)) throw new UsageError(`concurrency must be an integer >= 1 (got ${slots})`);
  }

  async run<T>(f: () => Promise<T>): Promise<T> {
    // A finishing call hands its slot straight to the next waiter, so none is taken twice.
    if (this.inFlight >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight++;
    try {
      return await f();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }
}
