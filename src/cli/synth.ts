// `rstar synth`: MCTS over every problem of a JSONL file, one finished tree a line
// (run/synthesize.ts); with --queue, on `rstar worker` processes (queue/submit.ts).
import type { Argv } from 'yargs';
import { backendOptionTable } from '../backends/options.js';
import { searchOptionTable } from '../engine/options.js';
import { queueOptionTable } from '../queue/options.js';
import { runOptionTable } from '../run/options.js';
import { withDefaults } from '../util/options.js';
import { addOptions, optionValues } from './options.js';

const { queue, attempts } = queueOptionTable;
const submitOptionTable = { queue, attempts };

export function synthOptions(y: Argv) {
  const y2 = addOptions(addOptions(addOptions(y, searchOptionTable), backendOptionTable), submitOptionTable);
  return addOptions(y2, runOptionTable, { help: { out: 'output directory (trees.jsonl, stats.json, run.json)' } });
}

export async function synth(args: Record<string, unknown>): Promise<void> {
  const run = optionValues(runOptionTable, args);
  const search = withDefaults(searchOptionTable, args);
  const backend = optionValues(backendOptionTable, args);
  const q = optionValues(submitOptionTable, args);
  // loaded here, not at start: a command loads only what it runs (bullmq, the model runtimes)
  if (q.queue !== undefined) await (await import('../queue/submit.js')).submit({ queue: q.queue, attempts: q.attempts, run, search, backend });
  else await (await import('../run/synthesize.js')).synthesize({ run, search, backend });
}
