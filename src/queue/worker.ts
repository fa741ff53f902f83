// `rstar worker --queue redis://HOST:PORT/NAME`: searches the queue's problems (jobs of
// `rstar synth --queue`) with backends opened once, keeping `concurrency` trees in flight:
// one Search, fed by the jobs as they come, whose finished trees are the jobs' results.
//
// The search settings are the run's (the queue's settings key): a worker gives only where
// its models are (--policy, --ppm: paths differ between machines; by default the run's) and
// what is local (threads, device, concurrency...). A worker that dies mid-problem stops
// renewing its jobs' locks; after `lockMs` BullMQ's stalled-job check gives them to another
// worker, which runs it alone (a job that stalls `attempts` times fails). SIGINT/SIGTERM: no new jobs, the trees
// in flight finish, then the worker exits.
import { constants, hostname } from 'node:os';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { openBackends } from '../backends/open.js';
import { backendOptionTable, type BackendOptions } from '../backends/options.js';
import { searchOptionTable, type SearchOptions } from '../engine/options.js';
import { planSearch, Search } from '../engine/search.js';
import type { ExportedTree } from '../engine/export.js';
import { UsageError } from '../errors.js';
import type { Problem } from '../io/problems.js';
import { progressBar } from '../run/progress.js';
import { searchRates } from '../run/summary.js';
import { checkOptions, flagName, withDefaults } from '../util/options.js';
import { parseQueueUrl, runKey, type JobData, type JobResult, type QueueRun } from './queue.js';

export interface WorkerRun {
  queue: string;
  /** the worker's own search options (not content: concurrency, engine, device, batching) */
  search: Partial<SearchOptions>;
  /** the backend options given on the command line (unset ones are the run's or the defaults) */
  backend: Partial<BackendOptions>;
  /** how long a job's lock lasts without renewal: a dead worker's jobs go to others after this */
  lockMs: number;
  progress: boolean;
}

/** Problems in arrival order, as the Search pulls them; ends when closed. */
class Inbox implements AsyncIterable<Problem> {
  private readonly items: Problem[] = [];
  private waiter: ((r: IteratorResult<Problem>) => void) | undefined;
  private closed = false;

  push(p: Problem): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: p, done: false });
    } else this.items.push(p);
  }

  close(): void {
    this.closed = true;
    this.waiter?.({ value: undefined, done: true });
    this.waiter = undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<Problem> {
    return {
      next: () => {
        const p = this.items.shift();
        if (p) return Promise.resolve({ value: p, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiter = resolve));
      },
    };
  }
}

/** The queue's run, waiting (and saying so) until a submitter has set it. */
async function queueRun(client: Awaited<Worker['client']>, name: string, url: string): Promise<QueueRun> {
  let said = false;
  for (;;) {
    const text = await client.get(runKey(name));
    if (text) return JSON.parse(text) as QueueRun;
    if (!said) console.error(`rstar: queue ${name} (${url}) has no run yet; waiting for rstar synth --queue ${url}`);
    said = true;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function work(o: WorkerRun): Promise<void> {
  const address = parseQueueUrl(o.queue);
  const name = `${hostname()}:${process.pid}`;
  const probe = new Queue(address.name, { connection: address.connection });
  let run: QueueRun;
  try {
    run = await queueRun(await probe.client, address.name, o.queue);
  } finally {
    await probe.close();
  }
  const searchOptions = { ...withDefaults(searchOptionTable, run.settings), ...definedOf(o.search) } as SearchOptions;
  const backendOptions = mergeBackend(run.settings, o.backend);
  const plan = planSearch(searchOptions);
  await using backends = await openBackends(backendOptions, plan.options.device);

  const inbox = new Inbox();
  const waiting = new Map<string, { resolve: (t: ExportedTree) => void; reject: (e: unknown) => void }>();
  const search = new Search(plan, backends, ({ tree }) => {
    const w = waiting.get(tree.id);
    waiting.delete(tree.id);
    w?.resolve(tree);
  });
  let failure: unknown;
  let stopped: Promise<void> | undefined;
  const searchTree = async (job: Job<JobData, JobResult>): Promise<JobResult> => {
    if (failure !== undefined) throw failure;
    const problem = job.data.problem;
    const tree = await new Promise<ExportedTree>((resolve, reject) => {
      waiting.set(problem.id, { resolve, reject });
      inbox.push(problem);
    });
    return { tree, worker: name };
  };
  // A job that stalled was in flight on a worker that died, maybe with the problem that
  // kills workers, maybe as that problem's neighbour. It runs alone (no new jobs taken, the
  // trees in flight finished first), so a crash it causes takes no other problem with it,
  // and a neighbour is not failed for a crash it did not cause. A second such job arriving
  // meanwhile goes back to the queue for a while rather than wait here, where it would be
  // in flight when the first one crashes the worker.
  let alone = false;
  const searchAlone = async (job: Job<JobData, JobResult>, token: string | undefined): Promise<JobResult> => {
    if (alone) {
      await job.moveToDelayed(Date.now() + 1000, token);
      throw new DelayedError();
    }
    alone = true;
    await worker.pause(true);
    try {
      while (waiting.size > 0) await new Promise((r) => setTimeout(r, 50));
      return await searchTree(job);
    } finally {
      alone = false;
      if (!stopped) worker.resume();
    }
  };
  const worker: Worker<JobData, JobResult> = new Worker<JobData, JobResult>(
    address.name,
    (job: Job<JobData, JobResult>, token?: string) => (job.stalledCounter === 0 ? searchTree(job) : searchAlone(job, token)),
    // a job stalls when its worker stops renewing its lock (died); after `attempts` stalls it fails
    { connection: address.connection, concurrency: plan.options.concurrency, lockDuration: o.lockMs, stalledInterval: o.lockMs, maxStalledCount: Math.max(0, run.attempts - 1), name },
  );
  worker.on('error', (e) => console.error(`rstar: worker: ${(e as Error).message}`));
  console.error(`rstar: worker ${name} on queue ${address.name} (${o.queue}): ${plan.options.concurrency} trees in flight, policy ${backendOptions.policy}`);
  const bar = o.progress ? progressBar(`worker |{bar}| {value} trees | {rps} rollouts/s | {solved} solved | {duration_formatted} elapsed`, 0, { rps: '0', solved: 0 }) : undefined;
  const tick = setInterval(() => bar?.update(search.stats.problems, searchRates(search)), 1000);
  // no new jobs; the ones in flight finish (their trees need the search), then the search ends
  const stop = () => (stopped ??= worker.close().then(() => inbox.close()));
  const onSignal = (s: NodeJS.Signals) => {
    const code = 128 + constants.signals[s];
    if (process.exitCode === code) process.exit(code);
    process.exitCode = code;
    console.error(`\nrstar: ${s}: the worker takes no new jobs; the ${waiting.size} trees in flight finish first (${s} again stops at once: their jobs go to other workers)`);
    void stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await search.run(inbox).catch((e: unknown) => {
      failure = e;
      for (const w of waiting.values()) w.reject(e);
      waiting.clear();
    });
    await stop();
  } finally {
    clearInterval(tick);
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await worker.close(true).catch(() => {});
  }
  console.error(`rstar: worker ${name}: ${search.stats.problems} trees, ${search.stats.rollouts} rollouts`);
  if (failure !== undefined) throw failure;
}

function definedOf<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The run's backend settings with the worker's own: where the models are (--policy, --ppm)
 * and local resources may differ; any other content setting must agree with the run's.
 */
function mergeBackend(settings: Record<string, unknown>, given: Partial<BackendOptions>): BackendOptions {
  const mine = definedOf(given) as Record<string, unknown>;
  for (const [key, value] of Object.entries(mine)) {
    if (key === 'policy' || key === 'ppm' || !(key in settings)) continue;
    if (JSON.stringify(settings[key]) !== JSON.stringify(value)) {
      throw new UsageError(`--${flagName(key)} ${JSON.stringify(value)} differs from the run's ${JSON.stringify(settings[key])}: a worker searches with the run's settings`);
    }
  }
  const run = Object.fromEntries(Object.entries(settings).filter(([k]) => k in backendOptionTable));
  const o = withDefaults(backendOptionTable, { ...run, ...mine });
  checkOptions(backendOptionTable, o);
  return o;
}
