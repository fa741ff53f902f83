// `rstar data`: data sets. `rstar data synth-problems` writes seeded synthetic arithmetic
// word problems (src/data/synthetic.ts) as a problems JSONL file: one {"id", "problem",
// "answer", "level", "template"[, "solution"]} object a line, readable by readProblems.
// The file is written whole to a temp file, synced and renamed over --out: a crash leaves
// the old file or the new one, never half of one.
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Argv } from 'yargs';
import { generateProblems, maxLevel, minLevel, parseLevels, type Split, type SyntheticProblem } from '../data/synthetic.js';

export function synthProblemsOptions(y: Argv) {
  return y
    .option('levels', { type: 'string', default: `${minLevel}-${maxLevel}`, describe: `reasoning steps (${minLevel}..${maxLevel}): 3, 2,4 or 1-6; the count is spread evenly` })
    .option('count', { type: 'number', demandOption: true, describe: 'problems in all' })
    .option('seed', { type: 'number', default: 0, describe: 'the same seed gives the same problems' })
    .option('split', { choices: ['train', 'test'] as const, default: 'train' as Split, describe: 'test: every problem uses a held-out template (never in train)' })
    .option('out', { type: 'string', demandOption: true, describe: 'the JSONL file to write (replaced whole)' })
    .option('with-solutions', { type: 'boolean', default: false, describe: 'add each reference solution (rStar step format) as "solution"' });
}

type SynthProblemsArgs = Awaited<ReturnType<ReturnType<typeof synthProblemsOptions>['parseAsync']>>;

export function dataCommand(y: Argv) {
  return y.command('synth-problems', 'seeded synthetic multi-step arithmetic word problems, as problems JSONL', synthProblemsOptions, synthProblems).demandCommand(1);
}

/** One JSONL line: id first, the solution only when asked for. */
export function problemLine(p: SyntheticProblem, withSolution: boolean): string {
  const { id, problem, answer, level, template, solution } = p;
  return JSON.stringify(withSolution ? { id, problem, answer, level, template, solution } : { id, problem, answer, level, template });
}

/** Writes text to a temp file next to `file`, syncs it and renames it over `file`. */
export async function writeTextAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function synthProblems(args: SynthProblemsArgs): Promise<void> {
  const { count, seed } = args;
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`--count must be an integer >= 1 (got ${count})`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`--seed must be an integer (got ${seed})`);
  const levels = parseLevels(args.levels);
  const split = args.split;
  const problems = generateProblems({ levels, count, seed, split });
  await writeTextAtomic(args.out, problems.map((p) => problemLine(p, args['with-solutions']) + '\n').join(''));
  const byLevel = levels.map((l) => `L${l} ${problems.filter((p) => p.level === l).length}`).join(', ');
  process.stderr.write(`rstar data: wrote ${problems.length} problems (split ${split}, seed ${seed}${args['with-solutions'] ? ', with solutions' : ''}) to ${args.out}: ${byLevel}\n`);
}
