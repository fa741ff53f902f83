// `rstar synth --queue redis://HOST:PORT/NAME`: the run's problems become BullMQ jobs that
// `rstar worker` processes search, anywhere that reaches the Redis; the trees come back as
// the jobs' results and are appended to OUT/trees.jsonl as they arrive, crash-safe as an
// in-process synth writes them.
//
// Exactly once: a problem's job id is derived from it and the settings, so submitting again
// adds nothing; a tree is appended only for a problem not yet in trees.jsonl, and its job
// is removed only once the line is on disk. A submitter killed at any point and started
// again reads trees.jsonl, collects the jobs that finished meanwhile (they stay in Redis
// until written), and waits for the rest. Jobs that failed on every attempt (a problem that
// crashes its workers) are reported in stats.json and the run exits with an error naming
// them; the rest finish.
import { constants, hostname } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { backendOptionTable, type BackendOptions } from '../backends/options.js';
import { treeLineProblem } from '../engine/export.js';
import { searchOptionTable, type SearchOptions } from '../engine/options.js';
import { planSearch } from '../engine/search.js';
import { InputError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import type { RunOptions } from '../run/options.js';
import { progressBar } from '../run/progress.js';
import { ResumableRun } from '../run/resumable.js';
import { contentOf } from '../util/options.js';
import { jobId, parseQueueUrl, runKey, type JobData, type JobResult, type QueueRun } from './queue.js';

export interface SubmitRun {
  queue: string;
  run: RunOptions;
  search: Partial<SearchOptions>;
  backend: BackendOptions;
  /** attempts of a job (a crash of its worker counts as one) before it fails */
  attempts: number;
}

export interface FailedProblem {
  id: string;
  reason: string;
  attempts: number;
}

export async function submit({ queue: url, run, search, backend, attempts }: SubmitRun): Promise<void> {
  const address = parseQueueUrl(url);
  const plan = planSearch(search);
  const settings = { ...contentOf(searchOptionTable, plan.options), ...contentOf(backendOptionTable, backend) };
  await using out = await ResumableRun.open({
    out: run.out,
    overwrite: run.overwrite,
    settings,
    info: { problems: run.problems, queue: url },
    results: { name: 'trees.jsonl', check: treeLineProblem },
    redo: 'their problems are submitted again',
  });
  const queue = new Queue<JobData, JobResult>(address.name, { connection: address.connection });
  const events = new QueueEvents(address.name, { connection: address.connection });
  try {
    const client = await queue.client;
    if (run.overwrite) {
      await queue.obliterate({ force: true });
      await client.del(runKey(address.name));
    }
    await claimQueue(client, address.name, url, { settings, attempts });

    // Every problem not yet written gets its job (an existing job id adds nothing).
    // job id -> problem id: the problems themselves are on the queue
    const pending = new Map<string, string>();
    // kept after completion until the tree is on disk; kept after failure to be reported again
    const opts = { attempts, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: false, removeOnFail: false };
    let batch: Parameters<typeof queue.addBulk>[0] = [];
    const flush = async () => {
      if (batch.length > 0) await queue.addBulk(batch);
      batch = [];
    };
    for await (const p of out.remaining(run.problems, run.limit)) {
      const id = jobId(settings, p.id);
      if (pending.has(id)) throw new InputError(`${run.problems}: problem id "${p.id}" appears twice`);
      pending.set(id, p.id);
      batch.push({ name: 'tree', data: { problem: p }, opts: { ...opts, jobId: id } });
      if (batch.length >= 500) await flush();
    }
    await flush();
    console.error(`rstar: ${pending.size} problems on queue ${address.name} (${url}); ${out.done.size} already in ${join(run.out, 'trees.jsonl')}. Start workers with: rstar worker --queue ${url}`);

    const trees = await out.append('trees.jsonl');
    const failed: FailedProblem[] = [];
    const perWorker = new Map<string, number>();
    const total = pending.size;
    const started = Date.now();
    const bar = run.progress
      ? progressBar(`queue |{bar}| {value}/{total} problems | {workers} workers | {rates} | {duration_formatted} elapsed, ETA {left}`, total, { workers: 0, rates: '' })
      : undefined;
    const rates = () =>
      [...perWorker].map(([w, n]) => `${w} ${((60 * n) / Math.max(1, (Date.now() - started) / 1000)).toFixed(1)}/min`).join(', ') || 'no tree yet';

    // Collect what finished: completed jobs' trees are written, then their jobs removed;
    // failed jobs are reported (and kept, so a rerun reports them again).
    const collect = async () => {
      for (;;) {
        const done = (await queue.getJobs(['completed'], 0, 199)) as Job<JobData, JobResult>[];
        if (done.length === 0) break;
        for (const job of done) {
          const problem = pending.get(job.id!);
          if (problem !== undefined) {
            const tree = job.returnvalue?.tree;
            if (tree?.id !== problem) throw new Error(`queue ${address.name}: job ${job.id} of problem ${problem} came back with ${tree ? `the tree of ${tree.id}` : 'no tree'}`);
            await trees.append(tree);
            pending.delete(job.id!);
            const w = job.returnvalue.worker;
            perWorker.set(w, (perWorker.get(w) ?? 0) + 1);
          }
          await job.remove();
        }
      }
      for (const job of (await queue.getJobs(['failed'])) as Job<JobData, JobResult>[]) {
        const problem = pending.get(job.id!);
        if (problem === undefined) continue;
        failed.push({ id: problem, reason: job.failedReason, attempts: job.attemptsMade });
        pending.delete(job.id!);
      }
    };

    let stopping: NodeJS.Signals | undefined;
    const onSignal = (s: NodeJS.Signals) => {
      if (stopping) process.exit(128 + constants.signals[s]);
      stopping = s;
      console.error(`\nrstar: ${s}: stopping the submitter; the jobs stay on the queue and the workers go on (run the same command again to collect them)`);
      wake();
    };
    let wake = () => {};
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    events.on('completed', () => wake());
    events.on('failed', () => wake());
    let failure: unknown;
    try {
      while (pending.size > 0 && !stopping) {
        await collect();
        const workers = (await queue.getWorkers()).length;
        bar?.update(total - pending.size, { workers, rates: rates() });
        if (pending.size === 0 || stopping) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } catch (e) {
      failure = e;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      bar?.stop();
    }
    const written = total - pending.size - failed.length;
    await out.finish(failure !== undefined ? { failure } : stopping ? { signal: stopping } : {}, async () => {
      await writeJsonAtomic(join(run.out, 'stats.json'), {
        queue: url,
        submitter: `${hostname()}:${process.pid}`,
        problems: out.done.size + written,
        written,
        failed,
        pending: pending.size,
        workers: Object.fromEntries(perWorker),
        elapsedMs: Date.now() - started,
        ...(stopping ? { interrupted: stopping } : {}),
      });
    });
    console.error(`rstar: ${written} trees written (${out.done.size + written} in all) -> ${join(run.out, 'trees.jsonl')}; ${rates()}`);
    if (stopping) process.exitCode = 128 + constants.signals[stopping];
    if (failed.length > 0) {
      throw new InputError(`${failed.length} problems failed on every attempt (${attempts}), the rest are written: ${failed.map((f) => `${f.id} (${f.reason})`).join('; ')}`);
    }
  } finally {
    await events.close();
    await queue.close();
  }
}

/** Records the run on the queue, or refuses a queue that holds a run with other settings. */
async function claimQueue(client: Awaited<Queue['client']>, name: string, url: string, run: QueueRun): Promise<void> {
  const text = await client.get(runKey(name));
  if (text === null) return void (await client.set(runKey(name), JSON.stringify(run)));
  const held = JSON.parse(text) as QueueRun;
  const mine: Record<string, unknown> = { ...run.settings, attempts: run.attempts };
  const theirs: Record<string, unknown> = { ...held.settings, attempts: held.attempts };
  for (const key of new Set([...Object.keys(theirs), ...Object.keys(mine)])) {
    if (JSON.stringify(theirs[key]) !== JSON.stringify(mine[key])) {
      throw new InputError(`queue ${name} (${url}) holds a run with ${key} = ${JSON.stringify(theirs[key])}, not ${JSON.stringify(mine[key])}; use another queue name, the same settings, or --overwrite`);
    }
  }
}
