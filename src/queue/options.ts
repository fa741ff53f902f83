// The options of a run on a queue (`rstar synth --queue`, `rstar worker`), declared once.
import type { OptionTable, OptionValues } from '../util/options.js';

export const queueOptionTable = {
  queue: { type: 'string', help: 'redis://HOST:PORT/NAME: search on `rstar worker` processes fed by this BullMQ queue instead of in this process (README "Scaling out")' },
  // at least 2: a problem in flight beside one that crashed its worker is retried (alone)
  attempts: { type: 'integer', min: 2, default: 3, help: 'queue: tries of a problem, a crash of its worker included, before it is reported failed' },
  lockS: { type: 'number', above: 0, default: 30, help: "worker: seconds a job's lock lasts unrenewed: a dead worker's problems go to other workers after this" },
} as const satisfies OptionTable;

export type QueueOptions = OptionValues<typeof queueOptionTable>;
