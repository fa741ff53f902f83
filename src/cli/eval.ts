// `rstar eval`: accuracy on a problems JSONL without ground truth in the search (run/evaluate.ts).
import type { Argv } from 'yargs';
import { backendOptionTable } from '../backends/options.js';
import { searchOptionTable } from '../engine/options.js';
import { runOptionTable } from '../run/options.js';
import { withDefaults } from '../util/options.js';
import { addOptions, optionValues } from './options.js';

export function evalOptions(y: Argv) {
  const y2 = addOptions(addOptions(y, searchOptionTable, { defaults: { rollouts: 16, n: 4, concurrency: 16 } }), backendOptionTable);
  return addOptions(y2, runOptionTable, { help: { out: 'output directory (results.jsonl, summary.json, run.json)' } })
    .option('greedy', { type: 'boolean', default: false, describe: 'one trajectory at temperature 0 (pass@1), no search' })
    .option('trees', { type: 'boolean', default: false, describe: 'also write each searched tree to DIR/trees.jsonl (the synth format), to study how answers are chosen' });
}

export async function evalCommand(args: Record<string, unknown>): Promise<void> {
  const { evaluate } = await import('../run/evaluate.js');
  await evaluate({
    run: optionValues(runOptionTable, args),
    search: withDefaults(searchOptionTable, args),
    backend: optionValues(backendOptionTable, args),
    greedy: args['greedy'] === true,
    trees: args['trees'] === true,
  });
}
