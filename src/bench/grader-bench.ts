// The grader's evaluation on the gold answers of the evaluation sets, and its throughput.
// Every gold answer is compared with re-renderings of itself that must stay equal (boxed in
// a sentence, spaces removed or added, the compute engine's own LaTeX, its decimal value),
// with a nearby value that must not (its value off by 1e-4 relative), with rStar's copy of
// it (answer_rstar), and with the next problem's gold (equal only when the answers are the
// same; listed for a human to judge). Then the same comparisons run through MathGrader with
// one worker and with several, for comparisons/s.
import { readFileSync } from 'node:fs';
import { equivalent } from '../grade/equivalence.js';
import { engineRendering, realValue, withCas } from '../grade/cas.js';
import { cleanAnswer, compactAnswer } from '../grade/answer-text.js';
import { parseAnswer } from '../grade/answer-parse.js';
import { MathGrader, type PredGold } from '../grade/math-grader.js';

export interface GoldRow {
  id: string;
  /** accepted answers: one, or several where the set lists several */
  golds: string[];
  /** rStar-Math's copy of the gold answer, when the set has one */
  rstar?: string;
}

/** The rows of a test.jsonl: {"id", "answer" (string, number or list), "answer_rstar"?}. */
export function readGoldSet(file: string): GoldRow[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const o = JSON.parse(line) as { id: unknown; answer: unknown; answer_rstar?: unknown };
      const answers = Array.isArray(o.answer) ? o.answer : [o.answer];
      const golds = answers.map(String).filter((g) => g.trim() !== '');
      return o.answer_rstar === undefined ? { id: String(o.id), golds } : { id: String(o.id), golds, rstar: String(o.answer_rstar) };
    });
}

/**
 * A gold that cannot survive being wrapped in \boxed{}: braces that do not pair up, or a
 * trailing backslash that escapes the box's closing brace (defects of the data).
 */
export function unboxable(s: string): boolean {
  if (/(?<!\\)(?:\\\\)*\\$/.test(s)) return true;
  let depth = 0;
  for (const ch of s.replace(/\\[{}]/g, '')) {
    if (ch === '{') depth++;
    else if (ch === '}' && --depth < 0) return true;
  }
  return depth !== 0;
}

/** Spaces removed, as rStar's copies have them (a backslash's space, `\ `, is kept: it is a command). */
export function withoutSpaces(s: string): string {
  return s.replace(/(?<!\\) +/g, '');
}

function withMoreSpaces(s: string): string {
  return s.replace(/,(?!\})/g, ', ').replace(/=/g, ' = ');
}

/** Must the check's pairs be equal (true), unequal (false), or is it only counted (undefined)? */
export const checks = {
  boxed: true,
  'no spaces': true,
  'more spaces': true,
  'engine LaTeX': true,
  'decimal value': true,
  'value * (1 + 1e-4)': false,
  answer_rstar: true,
  'next gold': undefined,
} as const;

export type CheckName = keyof typeof checks;

export interface Case {
  check: CheckName;
  id: string;
  pred: string;
  /** equal to any of them is equal */
  golds: string[];
}

/** The cases of one set, and how many golds had to skip a check (with why). */
export function casesOf(rows: GoldRow[]): { cases: Case[]; skipped: Record<string, number> } {
  const cases: Case[] = [];
  const skipped = { 'empty gold': 0, 'unboxable gold': 0 };
  const add = (check: CheckName, id: string, pred: string, golds: string[]) => cases.push({ check, id, pred, golds });
  rows.forEach((row, i) => {
    if (row.golds.length === 0) skipped['empty gold']++;
    for (const gold of row.golds) {
      if (unboxable(gold)) skipped['unboxable gold']++;
      else add('boxed', row.id, `The answer is $\\boxed{${gold}}$.`, [gold]);
      add('no spaces', row.id, withoutSpaces(gold), [gold]);
      add('more spaces', row.id, withMoreSpaces(gold), [gold]);
      const single = singleExpression(gold);
      if (single === undefined) continue;
      const { rendering, value } = withCas(() => ({ rendering: engineRendering(single), value: realValue(single) }));
      if (rendering !== undefined) add('engine LaTeX', row.id, rendering, [gold]);
      // a decimal that names the same double: integers beyond 2^53 have no exact decimal of their double
      if (value !== undefined && Math.abs(value) < 2 ** 53) {
        add('decimal value', row.id, String(value), [gold]);
        add('value * (1 + 1e-4)', row.id, String(value === 0 ? 1e-4 : value * (1 + 1e-4)), [gold]);
      }
    }
    if (row.rstar !== undefined && row.golds.length > 0) add('answer_rstar', row.id, row.rstar, row.golds);
    const next = rows[i + 1];
    if (next !== undefined && next.golds.length > 0 && row.golds.length > 0) add('next gold', row.id, next.golds[0]!, [row.golds[0]!]);
  });
  return { cases, skipped };
}

/** The gold's text when the grader reads it as one expression (not a list, an interval, prose...). */
function singleExpression(gold: string): string | undefined {
  const readings = parseAnswer(cleanAnswer(gold));
  const first = readings[0];
  return readings.length === 1 && first?.kind === 'scalar' ? first.tex : undefined;
}

export interface CheckTally {
  total: number;
  /** verdicts as the check expects (for a counted check: equal verdicts) */
  agree: number;
  /** the cases against the expectation (for a counted check: equal though written differently) */
  against: Case[];
}

export interface SetReport {
  set: string;
  golds: number;
  skipped: Record<string, number>;
  tallies: Partial<Record<CheckName, CheckTally>>;
  comparisons: number;
  ms: number;
}

/** Grades every case in this thread, with equivalent(). */
export function evaluateSet(set: string, rows: GoldRow[]): { report: SetReport; cases: Case[]; verdicts: boolean[] } {
  const { cases, skipped } = casesOf(rows);
  const started = performance.now();
  const verdicts = cases.map((c) => c.golds.some((g) => equivalent(c.pred, g)));
  const ms = performance.now() - started;
  const tallies: SetReport['tallies'] = {};
  cases.forEach((c, k) => {
    const tally = (tallies[c.check] ??= { total: 0, agree: 0, against: [] });
    const expected = checks[c.check];
    tally.total++;
    if (expected === undefined) {
      if (!verdicts[k]) return;
      tally.agree++;
      if (compactAnswer(cleanAnswer(c.pred)) !== compactAnswer(cleanAnswer(c.golds[0]!))) tally.against.push(c);
    } else if (verdicts[k] === expected) tally.agree++;
    else tally.against.push(c);
  });
  const golds = rows.reduce((n, r) => n + r.golds.length, 0);
  return { report: { set, golds, skipped, tallies, comparisons: cases.length, ms }, cases, verdicts };
}

export interface PoolRun {
  threads: number;
  comparisons: number;
  ms: number;
  /** verdicts that differ from equivalent() in this thread (timeouts included) */
  differ: number;
  errors: number;
}

/** Grades the pairs through a MathGrader of `threads` workers (warmed up first) and times it. */
export async function runPool(threads: number, pairs: PredGold[], expected: boolean[]): Promise<PoolRun> {
  const grader = new MathGrader({ threads });
  try {
    await grader.compare(pairs.slice(0, 64 * threads));
    const started = performance.now();
    const results = await grader.compare(pairs);
    const ms = performance.now() - started;
    return {
      threads,
      comparisons: pairs.length,
      ms,
      differ: results.filter((r, i) => r.equal !== expected[i]).length,
      errors: results.filter((r) => r.error !== undefined).length,
    };
  } finally {
    await grader.close();
  }
}
