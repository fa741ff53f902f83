// Evaluation (`rstar eval`, evolve's eval stage): accuracy on a problems JSONL, by level. The
// search never sees the gold answer: with a PPM, answers are scored by it and the best-scored one is the answer
// (rStar-Math inference); --greedy writes one trajectory at temperature 0. Each problem's
// result is appended (fsync'ed) to results.jsonl as it finishes, so a run resumes; the
// summary (summary.json) is rewritten at the end.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendOptions } from '../backends/options.js';
import { chooseAnswer, type Chosen } from '../engine/answer.js';
import { treeLineProblem } from '../engine/export.js';
import type { SearchOptions } from '../engine/options.js';
import { Search } from '../engine/search.js';
import { writeJsonAtomic } from '../io/atomic.js';
import type { Problem } from '../io/problems.js';
import { blindGrader, inferenceOptions } from './inference.js';
import type { RunOptions } from './options.js';
import { progressBar } from './progress.js';
import { openSearchRun } from './resumable.js';

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
  /** the gold answer is among the answers of the search's answer steps: what a perfect PPM would choose (greedy: the same as correct) */
  goldFound: boolean;
  trajectory: string;
  nodes: number;
  ms: number;
  /** why a model refused the problem (a prompt past its context): its search stopped early */
  error?: string;
}

export interface EvalRun {
  run: RunOptions;
  search: SearchOptions;
  backend: BackendOptions;
  /** one trajectory at temperature 0 (pass@1), no search */
  greedy: boolean;
  /** also write each searched tree to OUT/trees.jsonl */
  trees: boolean;
  /** the progress bar's name, e.g. "round 2/3 eval" */
  label?: string;
}

/** Evaluates the problems not yet in OUT/results.jsonl; returns the summary of all of them (undefined when the run failed). */
export async function evaluate(e: EvalRun): Promise<EvalSummary | undefined> {
  // Everything that can be refused is checked, and the models loaded, before anything is written.
  const { run, greedy, trees: writeTrees, label = 'eval' } = e;
  const { search, backend } = inferenceOptions(greedy, e.search, e.backend);
  await using prepared = await openSearchRun({
    run,
    search,
    backend,
    results: { name: 'results.jsonl', check: resultLineProblem },
    // a tree is written before its result line: one whose result was cut off is searched and
    // written again (readers take the last tree of an id)
    others: writeTrees ? [{ name: 'trees.jsonl', check: treeLineProblem }] : [],
    redo: 'their problems are evaluated again',
  });
  const { plan, backends, out, total } = prepared;
  const treesWriter = writeTrees ? await out.append('trees.jsonl') : undefined;
  const results = await out.append('results.jsonl');
  const levels = new Map<string, Problem['level']>();
  const bar = run.progress
    ? progressBar(`${label} |{bar}| {value}/{total} problems | {correct} correct | {duration_formatted} elapsed, ETA {left}`, Math.max(0, total - out.done.size), { correct: 0 })
    : undefined;
  let correctCount = 0;
  // the search never sees the gold answer; the chosen answers are graded here, by the backends' grader
  const searcher = new Search(plan, { ...backends, grader: blindGrader }, async ({ tree, ms }) => {
    const chosen = chooseAnswer(tree);
    const majority = chosen ? majorityAnswer(chosen) : null;
    // every answer found, graded once (the grader decides equality, so "7.0" is found for gold 7);
    // the chosen and the majority answer are among them
    const found = Object.keys(chosen?.votes ?? {});
    const graded = found.length > 0 ? await backends.grader.grade(found.map((answer) => ({ answer, gold: tree.answer }))) : [];
    const right = (answer: string | null | undefined) => answer != null && graded[found.indexOf(answer)] === true;
    const correct = right(chosen?.answer);
    const majorityCorrect = right(majority);
    if (correct) correctCount++;
    await treesWriter?.append(tree);
    const result: EvalResult = {
      id: tree.id,
      level: levels.get(tree.id) ?? null,
      gold: tree.answer,
      answer: chosen?.answer ?? null,
      correct,
      score: chosen?.score ?? null,
      votes: chosen?.votes ?? {},
      majority,
      majorityCorrect,
      goldFound: graded.some((g) => g),
      trajectory: chosen?.trajectory ?? '',
      nodes: tree.nodes.length,
      ms,
      ...(tree.error !== undefined ? { error: tree.error } : {}),
    };
    await results.append(result);
    bar?.increment({ correct: correctCount });
  }, prepared.trace);
  const outcome = await out.search(searcher, out.remaining(run.problems, run.limit, (p) => levels.set(p.id, p.level)));
  bar?.stop();
  let summary: EvalSummary | undefined;
  const steps =
    outcome.failure !== undefined
      ? []
      : [
          async () => {
            summary = { ...(await summarize(results.file, { greedy, search: plan.options, backend, problems: run.problems })), interrupted: outcome.signal !== undefined, ...(outcome.signal !== undefined ? { interruptSignal: outcome.signal } : {}) };
            await writeJsonAtomic(join(run.out, 'summary.json'), summary);
            const rows = Object.entries(summary.byLevel).map(([l, s]) => `level ${l}: ${s.correct}/${s.problems} (${(100 * s.accuracy).toFixed(1)}%)`);
            console.error(
              `rstar: ${summary.correct}/${summary.problems} correct (${(100 * summary.accuracy).toFixed(1)}%; majority vote ${(100 * summary.majorityAccuracy).toFixed(1)}%` +
                `${summary.goldFoundShare !== undefined && !greedy ? `; the gold answer found in ${(100 * summary.goldFoundShare).toFixed(1)}%` : ''})` +
                `${rows.length > 1 ? `; ${rows.join(', ')}` : ''}${summary.interrupted ? ' (interrupted: resume to finish)' : ''} -> ${results.file}`,
            );
          },
        ];
  await out.finish(outcome, ...steps);
  return summary;
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

interface Tally {
  problems: number;
  /** the PPM's choice */
  correct: number;
  accuracy: number;
  /** the most frequent answer */
  majorityCorrect: number;
  majorityAccuracy: number;
  /** problems whose gold answer the search found, and their share: the bound of any choice among its answers (absent when a line was written before results had goldFound) */
  goldFound?: number;
  goldFoundShare?: number;
}

async function summarize(file: string, run: { greedy: boolean; search: SearchOptions; backend: BackendOptions; problems: string }) {
  const results = (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EvalResult);
  const tally = (rs: EvalResult[]): Tally => {
    const correct = rs.filter((r) => r.correct).length;
    const majority = rs.filter((r) => r.majorityCorrect).length;
    const found = rs.every((r) => typeof r.goldFound === 'boolean') ? rs.filter((r) => r.goldFound).length : undefined;
    return {
      problems: rs.length,
      correct,
      accuracy: rs.length > 0 ? correct / rs.length : 0,
      majorityCorrect: majority,
      majorityAccuracy: rs.length > 0 ? majority / rs.length : 0,
      ...(found !== undefined ? { goldFound: found, goldFoundShare: rs.length > 0 ? found / rs.length : 0 } : {}),
    };
  };
  const byLevel: Record<string, Tally> = {};
  for (const level of [...new Set(results.map((r) => String(r.level)))].sort()) byLevel[level] = tally(results.filter((r) => String(r.level) === level));
  return {
    ...tally(results),
    byLevel,
    mode: run.greedy ? 'greedy' : 'mcts',
    policy: run.backend.policy,
    ppm: run.backend.ppm,
    rollouts: run.search.rollouts,
    n: run.search.n,
    seed: run.backend.seed,
    problemsFile: run.problems,
  };
}

export type EvalSummary = Awaited<ReturnType<typeof summarize>> & { interrupted: boolean; interruptSignal?: NodeJS.Signals };
