// A run that searches a problems file into an output directory and can be stopped and
// resumed (synth, eval, each round of evolve): it holds the directory's lock, refuses to
// resume a run made with other content settings (run.json), reopens its JSONL outputs
// (cutting a torn line, moving bad lines aside), feeds the search only the problems not yet
// done, stops cleanly on SIGINT/SIGTERM, and reports the first failure after writing what
// it has.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { openBackends, type Backends } from '../backends/open.js';
import { backendOptionTable, type BackendOptions } from '../backends/options.js';
import { searchOptionTable, type SearchOptions } from '../engine/options.js';
import { planSearch, type Search, type SearchPlan } from '../engine/search.js';
import { InputError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { JsonlAppender, rejectedFile, reopen, type LineCheck } from '../io/jsonl.js';
import { lockOutput } from '../io/lock.js';
import { countProblems, readProblems, type Problem } from '../io/problems.js';
import { contentOf } from '../util/options.js';
import { Trace } from '../util/trace.js';
import { handleInterrupts } from './interrupt.js';
import type { RunOptions } from './options.js';

export interface RunSpec {
  out: string;
  /** start over: the outputs are removed first */
  overwrite: boolean;
  /** what decides the outputs' content: a resumed run must agree on every one (run.json) */
  settings: Record<string, unknown>;
  /** written to run.json beside the settings, not compared (e.g. the problems file) */
  info?: Record<string, unknown>;
  /** the JSONL output with one line per finished problem: its ids are the problems done */
  results: { name: string; check: LineCheck };
  /** other JSONL outputs appended during the run (reopened, but no ids taken from them) */
  others?: { name: string; check: LineCheck }[];
  /** what happens to problems whose lines were moved aside, for the message */
  redo: string;
}

/** How the search part of a run ended. */
export interface Outcome {
  /** the first error, if the run failed */
  failure?: unknown;
  /** the signal that stopped it, if one did */
  signal?: NodeJS.Signals;
}

export class ResumableRun implements AsyncDisposable {
  private readonly appenders: JsonlAppender[] = [];

  private constructor(
    readonly out: string,
    /** ids of the problems already done */
    readonly done: Set<string>,
    private readonly unlock: () => void,
  ) {}

  /** Locks `out`, checks and records the settings, reopens the outputs. Nothing is written before the lock. */
  static async open(spec: RunSpec): Promise<ResumableRun> {
    await mkdir(spec.out, { recursive: true });
    const unlock = lockOutput(spec.out);
    try {
      const files = [spec.results, ...(spec.others ?? [])].map((f) => ({ ...f, file: join(spec.out, f.name) }));
      const runFile = join(spec.out, 'run.json');
      if (spec.overwrite) await Promise.all(files.map((f) => rm(f.file, { force: true })));
      else await checkSameRun(runFile, spec.settings);
      let done = new Set<string>();
      for (const [i, f] of files.entries()) {
        const { ids, cut, rejected } = await reopen(f.file, f.check);
        if (cut > 0) console.error(`rstar: cut a torn last line (${cut} bytes) from ${f.file}`);
        if (rejected > 0) console.error(`rstar: moved ${rejected} bad lines of ${f.file} to ${rejectedFile(f.file)}; ${spec.redo}`);
        if (i === 0) done = ids;
      }
      if (done.size > 0) console.error(`rstar: resuming: ${done.size} problems already in ${files[0]!.file}`);
      await writeJsonAtomic(runFile, { ...spec.settings, ...spec.info });
      return new ResumableRun(spec.out, done, unlock);
    } catch (e) {
      unlock();
      throw e;
    }
  }

  /** An output of the run, opened for appending; closed by finish(). */
  async append(name: string): Promise<JsonlAppender> {
    const a = await JsonlAppender.open(join(this.out, name));
    this.appenders.push(a);
    return a;
  }

  /** The problems of `file` (its first `limit`) not done yet; `seen` hears of each one handed out. */
  async *remaining(file: string, limit: number | undefined, seen?: (p: Problem) => void): AsyncGenerator<Problem> {
    let n = 0;
    for await (const p of readProblems(file)) {
      if (limit !== undefined && n++ >= limit) return;
      if (this.done.has(p.id)) continue;
      seen?.(p);
      yield p;
    }
  }

  /** Runs the search over `problems` with SIGINT/SIGTERM handled; a failure is returned, not thrown, so that finish() writes first. */
  async search(search: Search, problems: AsyncIterable<Problem>): Promise<Outcome> {
    const interrupt = handleInterrupts(search);
    try {
      await search.run(problems);
      return interrupt.signal !== undefined ? { signal: interrupt.signal } : {};
    } catch (failure) {
      return { failure, ...(interrupt.signal !== undefined ? { signal: interrupt.signal } : {}) };
    } finally {
      interrupt.dispose();
    }
  }

  /**
   * Closes the outputs, then runs `steps` (stats, summaries), each even when one before it
   * failed: partial totals are worth keeping. The first failure (the search's, else the
   * first step's) is thrown: on a full disk the results fail first, then the stats.
   */
  async finish(outcome: Outcome, ...steps: (() => Promise<void>)[]): Promise<void> {
    let failure = outcome.failure;
    for (const step of [...this.appenders.splice(0).map((a) => () => a.close()), ...steps]) {
      try {
        await step();
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const a of this.appenders.splice(0)) await a.close().catch(() => {});
    this.unlock();
  }
}

/** Refuses to resume over a run made with other content settings, or whose settings cannot be read. */
async function checkSameRun(runFile: string, settings: Record<string, unknown>): Promise<void> {
  let text: string;
  try {
    text = await readFile(runFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // no earlier run
    throw new InputError(`${runFile}: cannot read the earlier run's settings (${(e as Error).message}); fix or remove it, or pass --overwrite`);
  }
  let before: Record<string, unknown>;
  try {
    before = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    // resuming over settings no one can read could mix two runs in one output
    throw new InputError(`${runFile}: the earlier run's settings are not JSON (${(e as Error).message}); fix or remove it, or pass --overwrite`);
  }
  for (const [key, value] of Object.entries(settings)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(value)) {
      throw new InputError(
        `${runFile}: this directory holds a run with ${key} = ${JSON.stringify(before[key])}, not ${JSON.stringify(value)}; ` +
          'use another --out, the same settings, or --overwrite',
      );
    }
  }
}

/** A search run ready to start: its plan, its opened backends and its output directory. */
export interface SearchRun extends AsyncDisposable {
  plan: SearchPlan;
  backends: Backends;
  out: ResumableRun;
  /** the problems this run covers (--limit applied), those done before included */
  total: number;
  /** --trace: the run's timeline, closed on dispose */
  trace: Trace | undefined;
}

/**
 * Plans the search, opens the backends and then the output directory, whose run.json holds
 * the content settings of both: everything that can be refused is refused before anything is
 * written. Disposing closes the directory, then the backends.
 */
export async function openSearchRun(o: {
  run: RunOptions;
  search: Partial<SearchOptions>;
  backend: BackendOptions;
  results: RunSpec['results'];
  others?: RunSpec['others'];
  redo: string;
}): Promise<SearchRun> {
  const plan = planSearch(o.search);
  const count = await countProblems(o.run.problems);
  const total = o.run.limit !== undefined ? Math.min(count, o.run.limit) : count;
  // the trace file is written from the first event on: a run refused below leaves it alone
  const trace = o.run.trace !== undefined ? new Trace(o.run.trace) : undefined;
  const backends = await openBackends(o.backend, plan.options.device, trace);
  let out: ResumableRun;
  try {
    out = await ResumableRun.open({
      out: o.run.out,
      overwrite: o.run.overwrite,
      settings: { ...contentOf(searchOptionTable, plan.options), ...contentOf(backendOptionTable, o.backend) },
      info: { problems: o.run.problems },
      results: o.results,
      ...(o.others ? { others: o.others } : {}),
      redo: o.redo,
    });
  } catch (e) {
    await backends[Symbol.asyncDispose]();
    throw e;
  }
  console.error(`rstar: ${plan.options.engine} tree engine on ${plan.device} (${plan.deviceReason})`);
  return {
    plan,
    backends,
    out,
    total,
    trace,
    async [Symbol.asyncDispose]() {
      try {
        trace?.close();
        await out[Symbol.asyncDispose]();
      } finally {
        await backends[Symbol.asyncDispose]();
      }
    },
  };
}
