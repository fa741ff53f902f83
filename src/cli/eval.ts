// `rstar eval`: accuracy on a problems JSONL, by level. The search never sees the gold
// answer: with a PPM, answers are scored by it and the best-scored one is the answer
// (rStar-Math inference); --greedy writes one trajectory at temperature 0. Each problem's
// result is appended (fsync'ed) to results.jsonl as it finishes, so a run resumes; the
// summary (summary.json) is rewritten at the end.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { chooseAnswer, type Chosen } from '../engine/answer.js';
import { chooseDevice, Search, searchDefaults, validateSearchOptions, type SearchOptions } from '../engine/search.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { JsonlAppender, rejectedFile, reopen } from '../io/jsonl.js';
import { lockOutput } from '../io/lock.js';
import { treeLineProblem } from '../engine/export.js';
import { countProblems, readProblems, type Problem } from '../io/problems.js';
import { MathGrader } from '../grade/math-grader.js';
import { defaultModel, modelOptions, openBackends, searchFromArgs, searchOptions } from '../backends/open.js';
import { handleInterrupts } from '../run/interrupt.js';
import { progressBar } from '../run/progress.js';
import { UsageError } from '../errors.js';

export function evalOptions(y: Argv) {
  return searchOptions(modelOptions(y, { policy: defaultModel('policy'), ppm: defaultModel('ppm') }), { rollouts: 16, n: 4, concurrency: 16 })
    .option('problems', { type: 'string', demandOption: true, describe: 'problems JSONL: {"id","problem","answer"[,"level"]} a line' })
    .option('out', { type: 'string', demandOption: true, describe: 'output directory (results.jsonl, summary.json)' })
    .option('greedy', { type: 'boolean', default: false, describe: 'one trajectory at temperature 0 (pass@1), no search' })
    .option('limit', { type: 'number', describe: 'only the first N problems' })
    .option('trees', { type: 'boolean', default: false, describe: 'also write each searched tree to DIR/trees.jsonl (the synth format), to study how answers are chosen' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'start over instead of resuming' })
    .option('progress', { type: 'boolean', default: true, describe: 'show a progress bar' });
}

type EvalArgs = Awaited<ReturnType<ReturnType<typeof evalOptions>['parseAsync']>>;

export interface EvalResult {
  id: string;
  level: number | string | null;
  gold: string;
  /** the chosen answer, null when no trajectory reached one */
  answer: string | null;
  correct: boolean;
  /** the PPM's score of the chosen answer step */
  score: number | null;
  /** answer -> answer steps that gave it */
  votes: Record<string, number>;
  /** the answer most answer steps gave (ties: the PPM's choice first, then first found) */
  majority: string | null;
  majorityCorrect: boolean;
  trajectory: string;
  nodes: number;
  ms: number;
}

/** The search settings of a greedy run or a PPM-guided one; greedy also fixes sampling. */
export function inferenceSettings(args: { greedy: boolean; ppm: string }, search: Partial<SearchOptions>): Partial<SearchOptions> {
  if (args.greedy) return { ...search, rollouts: 1, n: 1, rolloutsInFlight: 1, answers: args.ppm === 'none' ? 'graded' : 'ppm' };
  if (args.ppm === 'none') throw new UsageError('a search without ground truth needs a PPM to choose the answer: give --ppm, or --greedy');
  return { ...search, answers: 'ppm' };
}

export async function evaluate(args: EvalArgs): Promise<void> {
  const search = inferenceSettings(args, searchFromArgs(args));
  const greedyArgs = args.greedy ? { ...args, temperature: 0 } : args;
  validateSearchOptions({ ...searchDefaults, ...search });
  const device = chooseDevice(args.engine, args.device);
  let total = await countProblems(args.problems);
  if (args.limit !== undefined) total = Math.min(total, args.limit);
  const file = join(args.out, 'results.jsonl');
  const treesFile = join(args.out, 'trees.jsonl');
  // The model options are checked (and the models loaded) before anything is written.
  const { backends, close } = await openBackends(greedyArgs);
  const grader = new MathGrader();
  let unlock = () => {};
  try {
    await mkdir(args.out, { recursive: true });
    unlock = lockOutput(args.out);
    console.error(`rstar: ${args.engine} tree engine on ${device.device} (${device.reason})`);
    if (args.overwrite) await Promise.all([file, treesFile].map((f) => rm(f, { force: true })));
    const { ids: done, rejected } = await reopen(file, resultLineProblem);
    if (rejected > 0) console.error(`rstar: moved ${rejected} bad lines of ${file} to ${rejectedFile(file)}; their problems are evaluated again`);
    // a tree is written before its result line: one whose result was cut off is searched and
    // written again (readers take the last tree of an id)
    if (args.trees) await reopen(treesFile, treeLineProblem);
    const treesWriter = args.trees ? await JsonlAppender.open(treesFile) : undefined;
    const writer = await JsonlAppender.open(file);
    const levels = new Map<string, Problem['level']>();
    const bar = args.progress
      ? progressBar('eval |{bar}| {value}/{total} problems | {correct} correct | {duration_formatted} elapsed, ETA {left}', Math.max(0, total - done.size), { correct: 0 })
      : undefined;
    let correctCount = 0;
    const searcher = new Search(search, { ...backends, grader: blindGrader }, async ({ tree, ms }) => {
      const chosen = chooseAnswer(tree);
      const majority = chosen ? majorityAnswer(chosen) : null;
      const [correct, majorityCorrect] = chosen ? await grader.grade([chosen.answer, majority!].map((answer) => ({ answer, gold: tree.answer }))) : [false, false];
      if (correct) correctCount++;
      await treesWriter?.append(tree);
      const result: EvalResult = {
        id: tree.id,
        level: levels.get(tree.id) ?? null,
        gold: tree.answer,
        answer: chosen?.answer ?? null,
        correct: correct === true,
        score: chosen?.score ?? null,
        votes: chosen?.votes ?? {},
        majority,
        majorityCorrect: majorityCorrect === true,
        trajectory: chosen?.trajectory ?? '',
        nodes: tree.nodes.length,
        ms,
      };
      await writer.append(result);
      bar?.increment({ correct: correctCount });
    });
    const interrupt = handleInterrupts(searcher);
    let failure: unknown;
    try {
      await searcher.run(remaining(readProblems(args.problems), done, args.limit, levels));
    } catch (e) {
      failure = e;
    }
    bar?.stop();
    interrupt.dispose();
    // the first failure is the one reported (on a full disk the results fail, then the summary)
    const steps = [() => writer.close(), async () => treesWriter?.close()];
    if (failure === undefined) {
      steps.push(async () => {
        const summary = { ...(await summarize(file, args)), interrupted: interrupt.signal !== undefined };
        await writeJsonAtomic(join(args.out, 'summary.json'), summary);
        const rows = Object.entries(summary.byLevel).map(([l, s]) => `level ${l}: ${s.correct}/${s.problems} (${(100 * s.accuracy).toFixed(1)}%)`);
        console.error(`rstar: ${summary.correct}/${summary.problems} correct (${(100 * summary.accuracy).toFixed(1)}%; majority vote ${(100 * summary.majorityAccuracy).toFixed(1)}%)${rows.length > 1 ? `; ${rows.join(', ')}` : ''}${summary.interrupted ? ' (interrupted: resume to finish)' : ''} -> ${file}`);
      });
    }
    for (const step of steps) {
      try {
        await step();
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  } finally {
    await grader.close();
    await close();
    unlock();
  }
}

/** What is wrong with a results.jsonl line (reopen() checks each on resume). */
function resultLineProblem(o: Record<string, unknown>): string | undefined {
  if (typeof o['correct'] !== 'boolean') return 'no boolean "correct"';
  if (typeof o['trajectory'] !== 'string') return 'no string "trajectory"';
  return undefined;
}

function majorityAnswer(c: Chosen): string {
  let best = c.answer;
  for (const [answer, n] of Object.entries(c.votes)) if (n > c.votes[best]!) best = answer;
  return best;
}

/** During the search no answer is graded against the gold: graded mode (greedy, no PPM) sees -1 for every answer. */
export const blindGrader = {
  name: 'blind',
  async grade(requests: { answer: string; gold: string }[]): Promise<boolean[]> {
    return requests.map(() => false);
  },
};

async function* remaining(problems: AsyncGenerator<Problem>, done: Set<string>, limit: number | undefined, levels: Map<string, Problem['level']>): AsyncGenerator<Problem> {
  let seen = 0;
  for await (const p of problems) {
    if (limit !== undefined && seen++ >= limit) return;
    if (done.has(p.id)) continue;
    levels.set(p.id, p.level);
    yield p;
  }
}

interface Tally {
  problems: number;
  /** the PPM's choice */
  correct: number;
  accuracy: number;
  /** the most frequent answer */
  majorityCorrect: number;
  majorityAccuracy: number;
}

async function summarize(file: string, args: EvalArgs) {
  const results = (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EvalResult);
  const tally = (rs: EvalResult[]): Tally => {
    const correct = rs.filter((r) => r.correct).length;
    const majority = rs.filter((r) => r.majorityCorrect).length;
    return { problems: rs.length, correct, accuracy: rs.length > 0 ? correct / rs.length : 0, majorityCorrect: majority, majorityAccuracy: rs.length > 0 ? majority / rs.length : 0 };
  };
  const byLevel: Record<string, Tally> = {};
  for (const level of [...new Set(results.map((r) => String(r.level)))].sort()) byLevel[level] = tally(results.filter((r) => String(r.level) === level));
  return {
    ...tally(results),
    byLevel,
    mode: args.greedy ? 'greedy' : 'mcts',
    policy: args.policy,
    ppm: args.ppm,
    rollouts: args.greedy ? 1 : args.rollouts,
    n: args.greedy ? 1 : args.n,
    seed: args.seed,
    problemsFile: args.problems,
  };
}
