// What the submitter (`rstar synth --queue`) and the workers (`rstar worker`) share: a run is
// a BullMQ queue on Redis, one job per problem, and the run's content settings under a key
// of its own, which the submitter sets and every worker searches with.
//
//   job id      sha1(settings, problem id): a problem is one job, however often submitted
//   job data    {problem}
//   job result  {tree, worker}: the exported tree (one trees.jsonl line) and who searched it
//   run         Redis key "rstar:{queue}:run": {settings, attempts}: the search's and
//               backends' content settings (run.json's), set once (a submitter with other
//               settings is refused, naming the first that differs), and the attempts a job
//               gets, which the workers also apply to jobs whose worker died
import { createHash } from 'node:crypto';
import type { ConnectionOptions } from 'bullmq';
import type { ExportedTree } from '../engine/export.js';
import type { Problem } from '../io/problems.js';
import { UsageError } from '../errors.js';

export interface QueueAddress {
  connection: ConnectionOptions;
  /** the queue's name: one run */
  name: string;
  /** the URL, for messages */
  url: string;
}

/** redis://[:PASSWORD@]HOST[:PORT][/NAME] (NAME default "rstar"); rediss:// for TLS. */
export function parseQueueUrl(text: string): QueueAddress {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`--queue must be a URL like redis://127.0.0.1:6379/NAME (got ${text})`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError(`--queue must be a redis:// or rediss:// URL (got ${text})`);
  const name = decodeURIComponent(u.pathname.replace(/^\/+|\/+$/g, '')) || 'rstar';
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new UsageError(`--queue: the queue name must be letters, digits, '.', '_' or '-' (got "${name}")`);
  return {
    name,
    url: text,
    connection: {
      host: u.hostname || '127.0.0.1',
      port: u.port ? Number(u.port) : 6379,
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
      // a command waits for Redis to come back rather than failing the run (BullMQ's advice for workers)
      maxRetriesPerRequest: null,
    },
  };
}

export const runKey = (name: string) => `rstar:${name}:run`;

/** What the queue's run key holds. */
export interface QueueRun {
  settings: Record<string, unknown>;
  attempts: number;
}

export function jobId(settings: Record<string, unknown>, problemId: string): string {
  return createHash('sha1').update(JSON.stringify(settings)).update('\0').update(problemId).digest('hex');
}

export interface JobData {
  problem: Problem;
}

export interface JobResult {
  tree: ExportedTree;
  /** the worker's name (host:pid) */
  worker: string;
}
