// `rstar solve "PROBLEM"`: one problem, searched without ground truth (or one greedy
// trajectory); prints the chosen trajectory with its execution output and the answer.
import type { Argv } from 'yargs';
import { backendOptionTable } from '../backends/options.js';
import { chooseAnswer, type Chosen } from '../engine/answer.js';
import { searchOptionTable } from '../engine/options.js';
import { planSearch, Search } from '../engine/search.js';
import { UsageError } from '../errors.js';
import { blindGrader, inferenceOptions } from '../run/inference.js';
import { withDefaults } from '../util/options.js';
import { addOptions, optionValues } from './options.js';

export function solveOptions(y: Argv) {
  return addOptions(addOptions(y, searchOptionTable, { defaults: { rollouts: 16, n: 4, concurrency: 1 } }), backendOptionTable)
    .positional('problem', { type: 'string', demandOption: true, describe: 'the problem text' })
    .option('greedy', { type: 'boolean', default: false, describe: 'one trajectory at temperature 0, no search' })
    .option('answer', { type: 'string', describe: 'the expected answer: say whether the chosen one equals it' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as one JSON object' });
}

type SolveArgs = Awaited<ReturnType<ReturnType<typeof solveOptions>['parseAsync']>>;

export async function solve(args: SolveArgs): Promise<void> {
  const text = String(args.problem ?? '').trim();
  if (text === '') throw new UsageError('give the problem text: rstar solve "Tom has 5 apples..."');
  const { search, backend } = inferenceOptions(args.greedy, withDefaults(searchOptionTable, args), optionValues(backendOptionTable, args));
  const plan = planSearch(search);
  const { openBackends } = await import('../backends/open.js'); // the model runtimes: loaded by the command that runs them
  await using backends = await openBackends(backend, search.device);
  let chosen: Chosen | undefined;
  let nodes = 0;
  let refused: string | undefined;
  // the search never sees the expected answer; the chosen one is graded after
  const searcher = new Search(plan, { ...backends, grader: blindGrader }, ({ tree }) => {
    chosen = chooseAnswer(tree);
    nodes = tree.nodes.length;
    refused = tree.error;
  });
  await searcher.run(
    (async function* () {
      yield { id: 'problem', problem: text, answer: args.answer ?? '' };
    })(),
  );
  let correct: boolean | undefined;
  if (chosen && args.answer !== undefined) [correct] = await backends.grader.grade([{ answer: chosen.answer, gold: args.answer }]);
  if (args.json) {
    console.log(JSON.stringify({ problem: text, answer: chosen?.answer ?? null, score: chosen?.score ?? null, votes: chosen?.votes ?? {}, trajectory: chosen?.trajectory ?? '', nodes, ...(correct !== undefined ? { correct } : {}), ...(refused !== undefined ? { error: refused } : {}) }));
  } else if (!chosen) {
    console.log(`${text}\n\nno trajectory reached an answer (${nodes} nodes searched)${refused !== undefined ? `: the model refused the problem (${refused})` : ''}`);
  } else {
    const votes = Object.entries(chosen.votes).sort((a, b) => b[1] - a[1]).map(([a, v]) => `${a} x${v}`).join(', ');
    console.log(`${text}\n\n${chosen.trajectory}\n\nanswer: ${chosen.answer} (score ${chosen.score.toFixed(3)}; answers found: ${votes}; ${nodes} nodes)${correct === undefined ? '' : correct ? ' - correct' : ` - expected ${args.answer}`}`);
  }
  if (!chosen) process.exitCode = 3;
}
