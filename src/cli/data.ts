// `rstar data`: data sets. `rstar data select` turns search trees into training data.
// `rstar data synth-problems` writes seeded synthetic arithmetic
// word problems (src/data/synthetic.ts) as a problems JSONL file: one {"id", "problem",
// "answer", "level", "template"[, "solution"]} object a line, readable by readProblems;
// with --pairs, PPM preference pairs from perturbed solutions (src/data/synthetic-pairs.ts).
// The file is written whole to a temp file, synced and renamed over --out: a crash leaves
// the old file or the new one, never half of one.
import type { Argv } from 'yargs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { answerPairs, pairLine, preferencePairs, sftExamples } from '../evolve/training-data.js';
import { writeTextAtomic } from '../io/atomic.js';
import { readTrees } from '../engine/export.js';
import { generateProblems, toSft, maxLevel, minLevel, parseLevels, type Split, type SyntheticProblem } from '../data/synthetic.js';
import { perturbations, perturbedPairs } from '../data/synthetic-pairs.js';
import { UsageError } from '../errors.js';

export function synthProblemsOptions(y: Argv) {
  return y
    .option('levels', { type: 'string', default: `${minLevel}-${maxLevel}`, describe: `reasoning steps (${minLevel}..${maxLevel}): 3, 2,4 or 1-6; the count is spread evenly` })
    .option('count', { type: 'number', demandOption: true, describe: 'problems in all' })
    .option('seed', { type: 'number', default: 0, describe: 'the same seed gives the same problems' })
    .option('split', { choices: ['train', 'test'] as const, default: 'train' as Split, describe: 'test: every problem uses a held-out template (never in train)' })
    .option('out', { type: 'string', demandOption: true, describe: 'the JSONL file to write (replaced whole)' })
    .option('with-solutions', { type: 'boolean', default: false, describe: 'add each reference solution (rStar step format) as "solution"' })
    .option('sft', { type: 'boolean', default: false, describe: 'write SFT examples instead: {"id","query","response"} a line (the trainer\'s input)' })
    .option('pairs', {
      type: 'number',
      describe: 'write PPM preference pairs instead: N perturbed reference solutions per problem (swap, misread, skip, extra), a step pair and an answer pair each, as `data select` writes them',
    });
}

type SynthProblemsArgs = Awaited<ReturnType<ReturnType<typeof synthProblemsOptions>['parseAsync']>>;

export function selectOptions(y: Argv) {
  return y
    .option('trees', { type: 'string', array: true, demandOption: true, describe: 'trees.jsonl files written by rstar synth' })
    .option('sft', { type: 'string', describe: 'write SFT examples here: {"id","query","response","meanQ","minQ"} a line' })
    .option('pairs', { type: 'string', describe: 'write PPM preference pairs here: {"id","prompt","chosen","rejected","chosenQ","rejectedQ"} a line' })
    .option('top', { type: 'number', default: 2, describe: 'SFT trajectories kept per solved problem' })
    .option('answer-pairs', { type: 'boolean', default: true, describe: 'also pair whole trajectories with a correct vs a wrong answer (2 x 2 per tree), for the PPM\'s score of answer steps' });
}

type SelectArgs = Awaited<ReturnType<ReturnType<typeof selectOptions>['parseAsync']>>;

export function dataCommand(y: Argv) {
  return y
    .command('synth-problems', 'seeded synthetic multi-step arithmetic word problems, as problems JSONL', synthProblemsOptions, synthProblems)
    .command('select', "training data from search trees: the policy's SFT examples and the PPM's preference pairs", selectOptions, select)
    .demandCommand(1);
}

/** Reads trees and writes the SFT examples and preference pairs they hold (evolve/training-data.ts). */
export async function select(args: SelectArgs): Promise<void> {
  if (args.sft === undefined && args.pairs === undefined) throw new UsageError('give --sft FILE, --pairs FILE or both');
  if (!(Number.isInteger(args.top) && args.top >= 1)) throw new UsageError(`--top must be an integer >= 1 (got ${args.top})`);
  const sft: string[] = [];
  const pairs: string[] = [];
  let trees = 0;
  let solved = 0;
  let answers = 0;
  for (const file of args.trees) {
    for await (const tree of readTrees(file)) {
      trees++;
      if (tree.solved) solved++;
      for (const e of sftExamples(tree, args.top)) sft.push(JSON.stringify(e) + '\n');
      for (const p of preferencePairs(tree)) pairs.push(JSON.stringify(pairLine(p)) + '\n');
      if (args['answer-pairs']) {
        const more = answerPairs(tree);
        answers += more.length;
        for (const p of more) pairs.push(JSON.stringify(pairLine(p)) + '\n');
      }
    }
  }
  for (const [file, lines] of [[args.sft, sft], [args.pairs, pairs]] as const) {
    if (file === undefined) continue;
    await mkdir(dirname(file), { recursive: true });
    await writeTextAtomic(file, lines.join(''));
  }
  process.stderr.write(`rstar data: ${trees} trees (${solved} solved): ${sft.length} SFT examples${args.sft ? ` -> ${args.sft}` : ''}, ${pairs.length} preference pairs (${answers} of whole trajectories)${args.pairs ? ` -> ${args.pairs}` : ''}\n`);
}

/** One JSONL line: id first, the solution only when asked for. */
export function problemLine(p: SyntheticProblem, withSolution: boolean): string {
  const { id, problem, answer, level, template, solution } = p;
  return JSON.stringify(withSolution ? { id, problem, answer, level, template, solution } : { id, problem, answer, level, template });
}

export async function synthProblems(args: SynthProblemsArgs): Promise<void> {
  const { count, seed } = args;
  if (!(Number.isInteger(count) && count >= 1)) throw new UsageError(`--count must be an integer >= 1 (got ${count})`);
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be an integer (got ${seed})`);
  const levels = parseLevels(args.levels);
  const split = args.split;
  await mkdir(dirname(args.out), { recursive: true });
  if (args.pairs !== undefined) {
    if (!(Number.isInteger(args.pairs) && args.pairs >= 1)) throw new UsageError(`--pairs must be an integer >= 1 (got ${args.pairs})`);
    if (args.sft || args['with-solutions']) throw new UsageError('--pairs writes pairs: it does not go with --sft or --with-solutions');
    const pairs = [...perturbedPairs({ levels, count, seed, split, perProblem: args.pairs })];
    await writeTextAtomic(args.out, pairs.map((p) => JSON.stringify(p) + '\n').join(''));
    const byKind = perturbations.map((k) => `${k} ${pairs.filter((p) => p.perturbation === k).length}`).join(', ');
    process.stderr.write(`rstar data: wrote ${pairs.length} PPM pairs from ${count} problems (split ${split}, seed ${seed}) to ${args.out}: ${byKind}\n`);
    return;
  }
  const problems = generateProblems({ levels, count, seed, split });
  const line = args.sft ? (p: SyntheticProblem) => JSON.stringify({ id: p.id, ...toSft(p) }) : (p: SyntheticProblem) => problemLine(p, args['with-solutions']);
  await writeTextAtomic(args.out, problems.map((p) => line(p) + '\n').join(''));
  const byLevel = levels.map((l) => `L${l} ${problems.filter((p) => p.level === l).length}`).join(', ');
  process.stderr.write(`rstar data: wrote ${problems.length} problems (split ${split}, seed ${seed}${args.sft ? ', as SFT examples' : args['with-solutions'] ? ', with solutions' : ''}) to ${args.out}: ${byLevel}\n`);
}
