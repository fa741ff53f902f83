// The options of a run over a problems file into an output directory (synth, eval), declared
// once like the search's and the backends'.
import type { OptionTable, OptionValues } from '../util/options.js';

export const runOptionTable = {
  problems: { type: 'string', required: true, help: 'problems JSONL: {"id","problem","answer"[,"level"]} a line' },
  out: { type: 'string', required: true, help: 'output directory' },
  limit: { type: 'integer', min: 0, help: 'only the first N problems' },
  overwrite: { type: 'boolean', default: false, help: 'start over instead of resuming an earlier run in --out' },
  progress: { type: 'boolean', default: true, help: 'show a progress bar' },
  trace: {
    type: 'string',
    help: "write the run's timeline to this file in the Chrome trace event format (open it in ui.perfetto.dev or chrome://tracing): each stage's batches, the tree engine's calls, trees in flight",
  },
} as const satisfies OptionTable;

export type RunOptions = OptionValues<typeof runOptionTable>;
