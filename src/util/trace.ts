// A timeline of a run in the Chrome trace event format (JSON object form), which Perfetto
// (ui.perfetto.dev) and chrome://tracing open: each track is a "thread" of one process, each
// timed piece of work a complete event ("ph": "X") on its track, with what it worked on as
// args. Timestamps are microseconds since the trace opened.
// Events are recorded as numbers (a head id, the timestamp, the duration, the items) and sent
// in batches to a writer thread (writerThread, below) that formats them and appends them to the
// file: the run's thread does no formatting and no I/O for them. A run killed midway leaves a
// file without its closing brackets, which both viewers still read; close() ends the JSON
// and waits for the writer. The file is created at the first write, so a run refused before
// it starts leaves an earlier trace of the same name alone.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

/** One event as the file holds it: "X" a slice (ts, dur in microseconds), "C" a counter, "M" a track's or the process's name. */
export interface TraceEvent {
  name: string;
  ph: string;
  tid: number;
  ts?: number;
  dur?: number;
  args?: Record<string, unknown>;
}

/** What the search and its stages time their work with: a Trace, or a bench's own tally. */
export interface Timeline {
  /** now, on the timeline's clock (milliseconds, as performance.now()) */
  now(): number;
  /** a piece of work on `track` from `startMs` until now, on `items` things */
  slice(track: string, name: string, startMs: number, items?: number): void;
  /** a piece of work that starts now on the first free track of `group`; the function returned ends it */
  start(group: string): (name: string, items?: number) => void;
  counter(name: string, atMs: number, values: Record<string, number>): void;
  /** a piece of work timed elsewhere (a GPU operation, by CUDA events): from `startMs` for `durMs` */
  span?(track: string, name: string, startMs: number, durMs: number): void;
}

/** How an event's numbers become a line: a slice [id, ts, dur, items (-1: none)] or a one-value counter [id, ts, 0, value]. */
const HeadKind = { slice: 0, counter: 1 } as const;

/** What the writer gets: new heads (by id), whole lines (rare events), and `count` events of 4 numbers. */
interface TraceBatch {
  heads: [id: number, kind: number, head: string][];
  lines: string[];
  events: Float64Array;
  count: number;
}

type TraceMessage = { batch: TraceBatch } | { close: true };

interface TraceWriterData {
  file: string;
  kinds: typeof HeadKind;
  /** set to 1 by the writer once closed (or failed), with Atomics.notify */
  done: Int32Array;
  errors: MessagePort;
}

/** How long close() waits for the writer to finish the file. */
const closeTimeoutMs = 60_000;

export class Trace implements Timeline {
  private writer: { worker: Worker; done: Int32Array; errors: MessagePort } | undefined;
  private readonly origin = performance.now();
  private readonly tracks = new Map<string, number>();
  /** head ids, by track then name (slices) or by name (counters) */
  private readonly sliceHeads = new Map<string, Map<string, number>>();
  private readonly counterHeads = new Map<string, number>();
  private nextHead = 0;
  private heads: TraceBatch['heads'] = [];
  private lines: string[] = [];
  private events: Float64Array;
  private count = 0;
  /** per group, which of its tracks hold a running slice (start()) */
  private readonly busy = new Map<string, boolean[]>();
  private closed = false;

  /** Starts `file` over (truncates it) at the first write; flushEvery: events per batch to the writer. */
  constructor(
    readonly file: string,
    process = 'rstar',
    private readonly flushEvery = 4096,
  ) {
    this.events = new Float64Array(4 * flushEvery);
    this.lines.push(JSON.stringify({ name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: process } }));
  }

  /** Now, on the trace's clock (milliseconds, as performance.now()): a slice's start. */
  now(): number {
    return performance.now();
  }

  /** A piece of work on `track` from `startMs` (a performance.now() time) until now; `items`: how many things it worked on (a batch's size). */
  slice(track: string, name: string, startMs: number, items = -1): void {
    this.span(track, name, startMs, performance.now() - startMs, items);
  }

  /** A piece of work timed elsewhere (a GPU operation, by CUDA events): on `track` from `startMs` for `durMs`. */
  span(track: string, name: string, startMs: number, durMs: number, items = -1): void {
    if (this.closed) return;
    const ts = Math.round((startMs - this.origin) * 1000);
    const dur = Math.max(0, Math.round((startMs + durMs - this.origin) * 1000) - ts);
    let byName = this.sliceHeads.get(track);
    if (byName === undefined) this.sliceHeads.set(track, (byName = new Map()));
    let id = byName.get(name);
    if (id === undefined) {
      id = this.head(HeadKind.slice, `{"name":${JSON.stringify(name)},"ph":"X","pid":1,"tid":${this.track(track)},"ts":`);
      byName.set(name, id);
    }
    this.record(id, ts, dur, items);
  }

  /**
   * A slice that starts now on the first free track of `group` ("grader", then "grader 2"...
   * while the first is busy): viewers draw one track's slices nested, so work that overlaps
   * goes on tracks of its own. The returned function ends it.
   */
  start(group: string): (name: string, items?: number) => void {
    const busy = this.busy.get(group) ?? [];
    this.busy.set(group, busy);
    let k = busy.indexOf(false);
    if (k < 0) k = busy.length;
    busy[k] = true;
    const startMs = this.now();
    return (name, items) => {
      busy[k] = false;
      this.slice(k === 0 ? group : `${group} ${k + 1}`, name, startMs, items);
    };
  }

  /** A counter track's values at a time (e.g. trees in flight). */
  counter(name: string, atMs: number, values: Record<string, number>): void {
    if (this.closed) return;
    const ts = Math.round((atMs - this.origin) * 1000);
    const keys = Object.keys(values);
    if (keys.length !== 1) {
      this.lines.push(JSON.stringify({ name, ph: 'C', pid: 1, tid: 0, ts, args: values }));
      return;
    }
    const key = keys[0]!;
    let id = this.counterHeads.get(`${name}\0${key}`);
    if (id === undefined) {
      id = this.head(HeadKind.counter, `{"name":${JSON.stringify(name)},"ph":"C","pid":1,"tid":0,"args":{${JSON.stringify(key)}:`);
      this.counterHeads.set(`${name}\0${key}`, id);
    }
    this.record(id, ts, 0, values[key]!);
  }

  /** Sends what is recorded, and waits for the writer to end the JSON and close the file; later events are dropped. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    const w = this.writer!;
    w.worker.postMessage({ close: true } satisfies TraceMessage);
    const waited = Atomics.wait(w.done, 0, 0, closeTimeoutMs);
    const error = receiveMessageOnPort(w.errors)?.message as string | undefined;
    void w.worker.terminate();
    w.errors.close();
    if (error !== undefined) throw new Error(error);
    if (waited === 'timed-out') throw new Error(`${this.file}: the trace writer did not finish in ${closeTimeoutMs / 1000} s`);
  }

  private head(kind: number, head: string): number {
    const id = this.nextHead++;
    this.heads.push([id, kind, head]);
    return id;
  }

  private record(id: number, ts: number, dur: number, x: number): void {
    const e = this.events;
    const i = 4 * this.count++;
    e[i] = id;
    e[i + 1] = ts;
    e[i + 2] = dur;
    e[i + 3] = x;
    if (this.count === this.flushEvery) this.flush();
  }

  private track(name: string): number {
    let tid = this.tracks.get(name);
    if (tid === undefined) {
      tid = this.tracks.size + 1;
      this.tracks.set(name, tid);
      // tracks sort in the order they first appear
      this.lines.push(JSON.stringify({ name: 'thread_name', ph: 'M', pid: 1, tid, args: { name } }));
      this.lines.push(JSON.stringify({ name: 'thread_sort_index', ph: 'M', pid: 1, tid, args: { sort_index: tid } }));
    }
    return tid;
  }

  /** Hands the recorded events to the writer (the buffer goes with them: transferred, not copied). */
  private flush(): void {
    if (this.writer === undefined) {
      const done = new Int32Array(new SharedArrayBuffer(4));
      const { port1, port2 } = new MessageChannel();
      const data: TraceWriterData = { file: this.file, kinds: HeadKind, done, errors: port2 };
      const worker = new Worker(`(${writerThread})(require('node:fs'), require('node:worker_threads'))`, { eval: true, workerData: data, transferList: [port2] });
      worker.unref(); // close() waits for it; a run that never closes is not kept alive by it
      port1.unref();
      this.writer = { worker, done, errors: port1 };
    }
    const batch: TraceBatch = { heads: this.heads, lines: this.lines, events: this.events, count: this.count };
    this.writer.worker.postMessage({ batch } satisfies TraceMessage, [this.events.buffer as ArrayBuffer]);
    this.heads = [];
    this.lines = [];
    this.events = new Float64Array(4 * this.flushEvery);
    this.count = 0;
  }
}

/**
 * The writer thread: its source is the worker's code (an eval'd script, so that no loader is
 * involved: under tsx a worker's own .ts file would not load), hence everything it uses comes
 * in as arguments or workerData, and it declares no named function (tsx would wrap one in a
 * helper of its own). Messages come in the order the run sent them; close ends the JSON,
 * closes the file and wakes the run (Atomics), with a write error on `errors`.
 */
function writerThread(fs: typeof import('node:fs'), threads: typeof import('node:worker_threads')): void {
  const { file, kinds: kind, done, errors } = threads.workerData as TraceWriterData;
  const heads: string[] = [];
  const kinds: number[] = [];
  let fd: number | undefined;
  let written = false;
  let failed = false;
  threads.parentPort!.on('message', (m: TraceMessage) => {
    try {
      if (failed) return;
      const batch = 'batch' in m ? m.batch : undefined;
      const lines = batch?.lines ?? [];
      if (batch !== undefined) {
        for (const [id, k, head] of batch.heads) {
          heads[id] = head;
          kinds[id] = k;
        }
        const e = batch.events;
        for (let i = 0; i < batch.count * 4; i += 4) {
          const id = e[i]!;
          const head = heads[id]!;
          if (kinds[id] === kind.counter) lines.push(`${head}${e[i + 3]}},"ts":${e[i + 1]}}`);
          else lines.push(e[i + 3]! >= 0 ? `${head}${e[i + 1]},"dur":${e[i + 2]},"args":{"items":${e[i + 3]}}}` : `${head}${e[i + 1]},"dur":${e[i + 2]}}`);
        }
      }
      // the file is created at the first write
      if (fd === undefined) {
        fd = fs.openSync(file, 'w');
        fs.writeSync(fd, '{"displayTimeUnit":"ms","traceEvents":[\n');
      }
      if (lines.length > 0) {
        fs.writeSync(fd, (written ? ',\n' : '') + lines.join(',\n'));
        written = true;
      }
      if (batch === undefined) {
        fs.writeSync(fd, '\n]}\n');
        fs.closeSync(fd);
      }
    } catch (e) {
      failed = true;
      errors.postMessage(`${file}: cannot write the trace (${(e as Error).message})`);
    } finally {
      if (!('batch' in m) || failed) {
        Atomics.store(done, 0, 1);
        Atomics.notify(done, 0);
      }
    }
  });
}
