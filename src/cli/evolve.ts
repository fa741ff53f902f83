// `rstar evolve --config evolve.json --out DIR`: rounds of self-evolution (evolve/evolve.ts).
// Every config field is also a flag, which wins over the file.
import type { Argv } from 'yargs';
import { evolveOptionTable, readEvolveConfig } from '../evolve/config.js';
import { addOptions } from './options.js';

export function evolveOptions(y: Argv) {
  return addOptions(y, evolveOptionTable, { unset: true })
    .option('config', { type: 'string', describe: 'the JSON config: its fields are the flags below, in camelCase ("rolloutsInFlight": 4)' })
    .option('out', { type: 'string', demandOption: true, describe: 'output directory: state.json, round-R/, rounds.jsonl, REPORT.md, plot.svg' })
    .option('progress', { type: 'boolean', default: true, describe: 'show progress bars' });
}

export async function evolveCommand(args: Record<string, unknown>): Promise<void> {
  // only the flags given on the command line override the file (yargs sets no defaults here)
  const flags = Object.fromEntries(Object.keys(evolveOptionTable).filter((k) => args[k] !== undefined).map((k) => [k, args[k]]));
  const config = readEvolveConfig(args['config'] as string | undefined, flags);
  const { evolve } = await import('../evolve/evolve.js');
  await evolve(config, args['out'] as string, args['progress'] !== false);
}
