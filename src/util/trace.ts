// A timeline of a run in the Chrome trace event format (JSON object form), which Perfetto
// (ui.perfetto.dev) and chrome://tracing open: each track is a "thread" of one process, each
// timed piece of work a complete event ("ph": "X") on its track, with what it worked on as
// args. Timestamps are microseconds since the trace opened.
// Events are buffered and appended to the file as they come (a run killed midway leaves a
// file without its closing brackets, which both viewers still read); close() ends the JSON.
// The file is created at the first write, so a run refused before it starts leaves an earlier
// trace of the same name alone.
import { closeSync, openSync, writeSync } from 'node:fs';

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
}

export class Trace implements Timeline {
  private fd: number | undefined;
  private readonly origin = performance.now();
  private readonly tracks = new Map<string, number>();
  /** a slice's line up to its timestamp, by track and name */
  private readonly heads = new Map<string, string>();
  private buffer: string[] = [];
  /** per group, which of its tracks hold a running slice (start()) */
  private readonly busy = new Map<string, boolean[]>();
  /** some event is in the file: the next needs a separator */
  private written = false;
  private closed = false;

  /** Starts `file` over (truncates it) at the first write. */
  constructor(
    readonly file: string,
    process = 'rstar',
    private readonly flushEvery = 4096,
  ) {
    this.event({ name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: process } });
  }

  /** Now, on the trace's clock (milliseconds, as performance.now()): a slice's start. */
  now(): number {
    return performance.now();
  }

  /** A piece of work on `track` from `startMs` (a performance.now() time) until now; `items`: how many things it worked on (a batch's size). */
  slice(track: string, name: string, startMs: number, items = -1): void {
    if (this.closed) return;
    const ts = Math.round((startMs - this.origin) * 1000);
    const dur = Math.max(0, Math.round((performance.now() - this.origin) * 1000) - ts);
    // A slice per batch and per engine call: each line is its cached head and three numbers,
    // where JSON.stringify of an object was most of the trace's cost.
    const key = `${track}\0${name}`;
    let head = this.heads.get(key);
    if (head === undefined) {
      head = `{"name":${JSON.stringify(name)},"ph":"X","pid":1,"tid":${this.track(track)},"ts":`;
      this.heads.set(key, head);
    }
    this.push(items >= 0 ? `${head}${ts},"dur":${dur},"args":{"items":${items}}}` : `${head}${ts},"dur":${dur}}`);
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
    this.event({ name, ph: 'C', pid: 1, tid: 0, ts: Math.round((atMs - this.origin) * 1000), args: values });
  }

  /** Writes what is buffered and ends the JSON; later events are dropped. */
  close(): void {
    if (this.closed) return;
    this.flush();
    writeSync(this.fd!, '\n]}\n');
    closeSync(this.fd!);
    this.closed = true;
  }

  private track(name: string): number {
    let tid = this.tracks.get(name);
    if (tid === undefined) {
      tid = this.tracks.size + 1;
      this.tracks.set(name, tid);
      // tracks sort in the order they first appear
      this.event({ name: 'thread_name', ph: 'M', pid: 1, tid, args: { name } });
      this.event({ name: 'thread_sort_index', ph: 'M', pid: 1, tid, args: { sort_index: tid } });
    }
    return tid;
  }

  private event(e: Record<string, unknown>): void {
    if (!this.closed) this.push(JSON.stringify(e));
  }

  private push(line: string): void {
    this.buffer.push(line);
    if (this.buffer.length >= this.flushEvery) this.flush();
  }

  private flush(): void {
    if (this.fd === undefined) {
      this.fd = openSync(this.file, 'w');
      writeSync(this.fd, '{"displayTimeUnit":"ms","traceEvents":[\n');
    }
    if (this.buffer.length === 0) return;
    writeSync(this.fd, (this.written ? ',\n' : '') + this.buffer.join(',\n'));
    this.written = true;
    this.buffer = [];
  }
}
