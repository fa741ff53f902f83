// The rstar commands (main.ts starts them).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { constants } from 'node:os';
import { InputError, Interrupted, UsageError } from '../errors.js';
import { benchSearch, benchSearchOptions, benchTree, benchTreeOptions } from './bench.js';
import { dataCommand } from './data.js';
import { evalCommand, evalOptions } from './eval.js';
import { evolveCommand, evolveOptions } from './evolve.js';
import { exec, execOptions } from './exec.js';
import { grade, gradeOptions } from './grade.js';
import { serve, serveOptions } from './serve.js';
import { solve, solveOptions } from './solve.js';
import { synth, synthOptions } from './synth.js';
import { worker, workerOptions } from './worker.js';

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('rstar')
    .command('synth', 'search every problem of a JSONL file and write its trees', synthOptions, synth)
    .command('worker', 'search the problems of a queue that `rstar synth --queue` fills, on this machine', workerOptions, worker)
    .command('solve <problem>', 'solve one problem: search (or --greedy), print the trajectory and the answer', solveOptions, solve)
    .command('eval', 'accuracy on a problems JSONL without ground truth in the search, by level', evalOptions, evalCommand)
    .command('evolve', 'rounds of self-evolution: search the pool, select, train the policy and the PPM, evaluate, report', evolveOptions, evolveCommand)
    .command('serve', 'serve a policy over the OpenAI completions API: an ONNX model (what evolve\'s server policies run), or simulated steps at a simulated server\'s pace', serveOptions, serve)
    .command('exec', 'run one Python program in the sandboxed executor; print the result as JSON', execOptions, exec)
    .command('grade [pred] [gold]', 'are answers mathematically equivalent? one pair, or a JSONL file of pairs', gradeOptions, grade)
    .command('bench', 'benchmarks', (y) =>
      y
        .command('tree', 'native tree engine vs the TypeScript reference (sims/s)', benchTreeOptions, (args) => {
          benchTree(args);
        })
        .command('search', 'the whole search with simulated models on the CPU arena and the GPU arena (rollouts/s, where the time goes)', benchSearchOptions, async (args) => {
          await benchSearch(args);
        })
        .demandCommand(1),
    )
    .command('data', 'data sets: synth-problems', dataCommand)
    .demandCommand(1)
    .strict()
    .help()
    .fail((message, error, y) => {
      if (error) throw error;
      y.showHelp();
      console.error(`\n${message}`);
      process.exit(2);
    })
    .parseAsync();
}

main().catch((e: unknown) => {
  // Input and option errors are the user's to fix: the message says what and where (exit 2).
  // Anything else is a bug: its stack goes with it (exit 1).
  if (e instanceof Interrupted) {
    console.error(`rstar: ${e.message}`);
    process.exit(128 + constants.signals[e.signal]);
  }
  const missingFile = (e as NodeJS.ErrnoException)?.code === 'ENOENT';
  if (e instanceof InputError || e instanceof UsageError || missingFile) {
    console.error(`rstar: ${(e as Error).message}`);
    process.exit(2);
  }
  console.error('rstar: a bug (please report it with what follows):', e);
  process.exit(1);
});
