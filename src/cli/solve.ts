// `rstar solve "PROBLEM"`: one problem, searched without ground truth (or one greedy
// trajectory); prints the chosen trajectory with its execution output and the answer.
import type { Argv } from 'yargs';
import { chooseAnswer, type Chosen } from '../engine/answer.js';
import { Search, searchDefaults, validateSearchOptions } from '../engine/search.js';
import { MathGrader } from '../grade/math-grader.js';
import { defaultModel, modelOptions, openBackends, searchFromArgs, searchOptions } from '../backends/open.js';
import { blindGrader, inferenceSettings } from './eval.js';
import { UsageError } from '../errors.js';

export function solveOptions(y: Argv) {
  return searchOptions(modelOptions(y, { policy: defaultModel('policy'), ppm: defaultModel('ppm') }), { rollouts: 16, n: 4 })
    .positional('problem', { type: 'string', demandOption: true, describe: 'the problem text' })
    .option('greedy', { type: 'boolean', default: false, describe: 'one trajectory at temperature 0, no search' })
    .option('answer', { type: 'string', describe: 'the expected answer: say whether the chosen one equals it' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as one JSON object' });
}

type SolveArgs = Awaited<ReturnType<ReturnType<typeof solveOptions>['parseAsync']>>;

export async function solve(args: SolveArgs): Promise<void> {
  const text = String(args.problem ?? '').trim();
  if (text === '') throw new UsageError('give the problem text: rstar solve "Tom has 5 apples..."');
  const search = { ...inferenceSettings(args, searchFromArgs(args)), concurrency: 1 };
  validateSearchOptions({ ...searchDefaults, ...search });
  const { backends, close } = await openBackends(args.greedy ? { ...args, temperature: 0 } : args);
  let chosen: Chosen | undefined;
  let nodes = 0;
  try {
    const searcher = new Search(search, { ...backends, grader: blindGrader }, ({ tree }) => {
      chosen = chooseAnswer(tree);
      nodes = tree.nodes.length;
    });
    await searcher.run(
      (async function* () {
        yield { id: 'problem', problem: text, answer: args.answer ?? '' };
      })(),
    );
  } finally {
    await close();
  }
  let correct: boolean | undefined;
  if (chosen && args.answer !== undefined) {
    const grader = new MathGrader();
    try {
      [correct] = await grader.grade([{ answer: chosen.answer, gold: args.answer }]);
    } finally {
      await grader.close();
    }
  }
  if (args.json) {
    console.log(JSON.stringify({ problem: text, answer: chosen?.answer ?? null, score: chosen?.score ?? null, votes: chosen?.votes ?? {}, trajectory: chosen?.trajectory ?? '', nodes, ...(correct !== undefined ? { correct } : {}) }));
  } else if (!chosen) {
    console.log(`${text}\n\nno trajectory reached an answer (${nodes} nodes searched)`);
  } else {
    const votes = Object.entries(chosen.votes).sort((a, b) => b[1] - a[1]).map(([a, v]) => `${a} x${v}`).join(', ');
    console.log(`${text}\n\n${chosen.trajectory}\n\nanswer: ${chosen.answer} (score ${chosen.score.toFixed(3)}; answers found: ${votes}; ${nodes} nodes)${correct === undefined ? '' : correct ? ' - correct' : ` - expected ${args.answer}`}`);
  }
  if (!chosen) process.exitCode = 3;
}
