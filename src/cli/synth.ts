// `rstar synth`: MCTS over every problem of a JSONL file, one finished tree a line (run/synthesize.ts).
import type { Argv } from 'yargs';
import { backendOptionTable } from '../backends/options.js';
import { searchOptionTable } from '../engine/options.js';
import { runOptionTable } from '../run/options.js';
import { synthesize } from '../run/synthesize.js';
import { withDefaults } from '../util/options.js';
import { addOptions, optionValues } from './options.js';

export function synthOptions(y: Argv) {
  const y2 = addOptions(addOptions(y, searchOptionTable), backendOptionTable);
  return addOptions(y2, runOptionTable, { help: { out: 'output directory (trees.jsonl, stats.json, run.json)' } });
}

export async function synth(args: Record<string, unknown>): Promise<void> {
  await synthesize({ run: optionValues(runOptionTable, args), search: withDefaults(searchOptionTable, args), backend: optionValues(backendOptionTable, args) });
}
