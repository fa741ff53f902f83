// `rstar worker`: searches the problems of a queue that `rstar synth --queue` fills
// (queue/worker.ts), with the run's search settings and this machine's models and resources.
import type { Argv } from 'yargs';
import { backendOptionTable } from '../backends/options.js';
import { searchOptionTable } from '../engine/options.js';
import { queueOptionTable } from '../queue/options.js';
import { checkOptions, withDefaults } from '../util/options.js';
import { addOptions } from './options.js';

// the search settings are the run's: a worker sets only what is its own
const { concurrency, engine, device, policyBatch, policyConcurrency } = searchOptionTable;
const workerSearchTable = { concurrency, engine, device, policyBatch, policyConcurrency };
const { queue, lockS } = queueOptionTable;
const workerQueueTable = { queue: { ...queue, required: true as const, help: 'redis://HOST:PORT/NAME: the queue of the run to work on' }, lockS };

export function workerOptions(y: Argv) {
  const y2 = addOptions(addOptions(y, workerQueueTable), workerSearchTable);
  // unset: a backend option not given is the run's (the models: where the run's were)
  return addOptions(y2, backendOptionTable, { unset: true }).option('progress', { type: 'boolean', default: true, describe: 'show a progress bar' });
}

export async function worker(args: Record<string, unknown>): Promise<void> {
  const q = withDefaults(workerQueueTable, args);
  checkOptions(workerQueueTable, q);
  const search = withDefaults(workerSearchTable, args);
  checkOptions(workerSearchTable, search);
  const backend = Object.fromEntries(Object.keys(backendOptionTable).filter((k) => args[k] !== undefined).map((k) => [k, args[k]]));
  const { work } = await import('../queue/worker.js');
  await work({ queue: q.queue, lockMs: q.lockS * 1000, search, backend, progress: args['progress'] !== false });
}
