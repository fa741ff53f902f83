// One batch of comparisons as the pool and the worker grading it share it, in a
// SharedArrayBuffer: the worker marks which comparison it is on and since when, and writes
// each result as soon as it has it. The pool's watchdog reads the clock to stop a
// comparison that runs past its time limit; the results written before the worker was
// stopped survive it.

export interface GradeResult {
  equal: boolean;
  /** why the comparison has no verdict (it timed out, failed, or its worker died); equal is then false */
  error?: string;
}

const pending = 0;
const equalCode = 1;
const differentCode = 2;
const failedCode = 3;
/** Error messages are cut to this many bytes of UTF-8. */
const messageBytes = 240;
/** meta[index]: the comparison being run (-1: none); meta[started]: when it began, ms after the batch's epoch */
const index = 0;
const started = 1;

export class SharedResults {
  readonly buffer: SharedArrayBuffer;
  private readonly meta: Int32Array;
  private readonly codes: Int32Array;
  private readonly lengths: Int32Array;
  private readonly messages: Uint8Array;

  /** A new buffer for `size` comparisons, or a view of one made elsewhere. */
  constructor(readonly size: number, buffer?: SharedArrayBuffer) {
    const ints = 2 + 2 * size;
    this.buffer = buffer ?? new SharedArrayBuffer(4 * ints + messageBytes * size);
    this.meta = new Int32Array(this.buffer, 0, 2);
    this.codes = new Int32Array(this.buffer, 8, size);
    this.lengths = new Int32Array(this.buffer, 8 + 4 * size, size);
    this.messages = new Uint8Array(this.buffer, 4 * ints, messageBytes * size);
    if (buffer === undefined) this.meta[index] = -1;
  }

  /** The worker starts comparison i at `at` (ms after the epoch). */
  begin(i: number, at: number): void {
    // the time first: a reader that sees the new index then sees its start time too
    Atomics.store(this.meta, started, at);
    Atomics.store(this.meta, index, i);
  }

  finish(i: number, equal: boolean): void {
    Atomics.store(this.codes, i, equal ? equalCode : differentCode);
  }

  fail(i: number, message: string): void {
    const { written } = new TextEncoder().encodeInto(message, this.messages.subarray(i * messageBytes, (i + 1) * messageBytes));
    this.lengths[i] = written;
    Atomics.store(this.codes, i, failedCode);
  }

  /** The comparison in progress and when it began (ms after the epoch), if any. */
  running(): { index: number; startedAt: number } | undefined {
    const i = Atomics.load(this.meta, index);
    if (i < 0 || Atomics.load(this.codes, i) !== pending) return undefined;
    return { index: i, startedAt: Atomics.load(this.meta, started) };
  }

  /** Comparison i's result, or undefined while it has none. */
  result(i: number): GradeResult | undefined {
    const code = Atomics.load(this.codes, i);
    if (code === pending) return undefined;
    if (code === failedCode) {
      const bytes = this.messages.slice(i * messageBytes, i * messageBytes + this.lengths[i]!);
      return { equal: false, error: new TextDecoder().decode(bytes) };
    }
    return { equal: code === equalCode };
  }
}
