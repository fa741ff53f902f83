// Mathematical equivalence of final answers, as rStar-Math's grading needs it: is the
// policy's boxed answer the gold answer? Cheap checks first (the same text, the same text
// once cleaned, plain numbers), the computer algebra system last. Synchronous and pure; the
// time bound on pathological input is MathGrader's (math-grader.ts), which runs this in
// worker threads.
//
// Decisions (see test/grader.test.ts for each):
// - numbers: integers exactly, others within a relative 1e-6 (answer-number.ts says why);
// - a percentage is itself or a fraction of 100 (10% equals 10 and 0.1), but without a %
//   sign 10 and 0.1 differ (Qwen2.5-Math's grader also accepts those; we do not);
// - tuples and intervals are ordered and their brackets count ((1,2) is not [1,2]); sets and
//   several answers ("1, 2", "x = 1 or x = 2") are unordered;
// - either side may be a whole solution: its final answer is taken first (extractAnswer);
// - `x = 3` equals 3 when the left side names the value (a variable, a function of
//   variables, a tuple of names, |AB|, \frac{NO}{BO}), not when it computes (x + y);
// - equations whose lhs - rhs differ by a nonzero constant factor are the same curve, and
//   inequalities whose links differ by positive ones the same region (-x > -1 is x < 1);
// - units after a constant ("5 cm", "12 dollars"), degree marks and \text wrappers are
//   ignored; "30^\circ" equals 30, not pi/6, except in an answer with a trig function;
// - a gold answer that is a single letter A-Z is a multiple-choice option: "(B)", "B",
//   "\text{(B)}" and "(B) 12" all choose B;
// - prose is compared as text, without spaces and case.
import { parseNumber, numbersEqual } from './answer-number.js';
import { parseAnswer, relationAsInterval, type Answer } from './answer-parse.js';
import { choiceLetter, cleanAnswer, compactAnswer } from './answer-text.js';
import { casEqual, casRatio, withCas } from './cas.js';

/** Answers longer than this (cleaned) are compared as text only: they are prose or derivations, and slow to parse. */
export const maxMathLength = 400;
/** Sets with more items than this are not matched (only their whole text counts): matching costs items^2 comparisons. */
const maxSetItems = 40;

/** Whether the predicted final answer is mathematically the gold answer. */
export function equivalent(pred: string, gold: string): boolean {
  if (pred === gold) return true;
  const p = cleanAnswer(pred);
  const g = cleanAnswer(gold);
  const pc = compactAnswer(p);
  const gc = compactAnswer(g);
  if (pc === gc) return true;
  if (pc === '' || gc === '') return false;
  const option = choiceLetter(g, true);
  if (option !== undefined) {
    const chosen = choiceLetter(p, false);
    if (chosen !== undefined) return chosen === option;
  }
  if (p.length > maxMathLength || g.length > maxMathLength) return pc.toLowerCase() === gc.toLowerCase();
  const preds = parseAnswer(p);
  const golds = parseAnswer(g);
  return withCas(() => preds.some((a) => golds.some((b) => answersEqual(a, b))));
}

function answersEqual(a: Answer, b: Answer): boolean {
  if (a.kind === 'equation' || b.kind === 'equation') return equationsEqual(a, b);
  if (a.kind === 'relation' && b.kind === 'ordered') return intervalEqual(a, b);
  if (b.kind === 'relation' && a.kind === 'ordered') return intervalEqual(b, a);
  if (a.kind === 'matrix' && b.kind === 'ordered') return vectorEqual(a, b);
  if (b.kind === 'matrix' && a.kind === 'ordered') return vectorEqual(b, a);
  switch (a.kind) {
    case 'scalar':
      return b.kind === 'scalar' && scalarsEqual(a.tex, b.tex);
    case 'prose':
      return b.kind === 'prose' && a.text === b.text;
    case 'ordered':
      return b.kind === 'ordered' && a.open === b.open && a.close === b.close && listsEqual(a.items, b.items);
    case 'unordered':
      return b.kind === 'unordered' && setsEqual(a.items, b.items);
    case 'matrix':
      return b.kind === 'matrix' && a.rows.length === b.rows.length && a.rows.every((row, i) => listsEqual(row, b.rows[i]!));
    case 'relation':
      return b.kind === 'relation' && relationsEqual(a, b);
  }
}

function scalarsEqual(a: string, b: string): boolean {
  if (compactAnswer(a) === compactAnswer(b)) return true;
  const x = parseNumber(a);
  const y = parseNumber(b);
  if (x !== undefined && y !== undefined) return numbersEqual(x, y);
  return casEqual(a, b);
}

function listsEqual(a: readonly Answer[], b: readonly Answer[]): boolean {
  return a.length === b.length && a.every((x, i) => answersEqual(x, b[i]!));
}

/** A one-to-one matching of equal items exists (Kuhn's augmenting paths over the equality table). */
function setsEqual(a: readonly Answer[], b: readonly Answer[]): boolean {
  if (a.length !== b.length) return false;
  if (a.length > maxSetItems) return false;
  const equal = a.map((x) => b.map((y) => answersEqual(x, y)));
  const owner = new Array<number>(b.length).fill(-1);
  const augment = (i: number, seen: boolean[]): boolean => {
    for (let j = 0; j < b.length; j++) {
      if (!equal[i]![j] || seen[j]) continue;
      seen[j] = true;
      if (owner[j] === -1 || augment(owner[j]!, seen)) {
        owner[j] = i;
        return true;
      }
    }
    return false;
  };
  return a.every((_, i) => augment(i, new Array<boolean>(b.length).fill(false)));
}

type Equation = Extract<Answer, { kind: 'equation' }>;

function equationsEqual(a: Answer, b: Answer): boolean {
  if (a.kind === 'equation' && b.kind === 'equation') {
    if (a.relation !== b.relation) return false;
    if (compactAnswer(a.lhs) === compactAnswer(b.lhs)) return answersEqual(a.rhs, b.rhs);
    // y = 2x + 3 and 2x - y + 3 = 0: the same equation when lhs - rhs agree up to sign,
    if (a.relation !== '=' || a.rhs.kind !== 'scalar' || b.rhs.kind !== 'scalar') return false;
    // or, for curves, up to any constant factor (2x + 4y - 3 = 0 is y = -x/2 + 3/4)
    const da = `(${a.lhs})-(${a.rhsTex})`;
    const db = `(${b.lhs})-(${b.rhsTex})`;
    if (casEqual(da, db) || casEqual(`-(${da})`, db)) return true;
    const c = casRatio(da, db);
    return c !== undefined && c !== 0;
  }
  // x = 3 against 3: the value of a variable or function is what is asked
  const [eq, value] = (a.kind === 'equation' ? [a, b] : [b, a]) as [Equation, Answer];
  return eq.simple && answersEqual(eq.rhs, value);
}

type Relation = Extract<Answer, { kind: 'relation' }>;

const flipped: Record<string, string> = { '<': '>', '>': '<', '\\leq': '\\geq', '\\geq': '\\leq', '\\neq': '\\neq' };

/** The same chain of relations, read in either direction (x > 3 is 3 < x), or the same conditions (relationAtoms). */
function relationsEqual(a: Relation, b: Relation): boolean {
  const same = (terms: string[], ops: string[]) =>
    ops.every((op, i) => op === a.ops[i]) && terms.every((t, i) => scalarsEqual(a.terms[i]!, t));
  if (a.terms.length === b.terms.length && (same(b.terms, b.ops) || same([...b.terms].reverse(), [...b.ops].reverse().map((op) => flipped[op]!)))) return true;
  return atomsEqual(relationAtoms(a), relationAtoms(b));
}

/** One condition `d < 0`, `d \leq 0` or `d \neq 0`, d a LaTeX expression. */
interface Atom {
  d: string;
  op: 'strict' | 'loose' | 'neq';
}

/** The links of a chain of relations as conditions on 0: `a > b` is `b - a < 0`. */
function relationAtoms(r: Relation): Atom[] {
  return r.ops.map((op, i) => {
    const [l, g] = op === '>' || op === '\\geq' ? [r.terms[i + 1]!, r.terms[i]!] : [r.terms[i]!, r.terms[i + 1]!];
    return { d: `(${l})-(${g})`, op: op === '\\neq' ? 'neq' : op === '<' || op === '>' ? 'strict' : 'loose' };
  });
}

/**
 * The same conditions, one to one: d < 0 and e < 0 are the same when d = c * e for a
 * constant c > 0 (-x > -1 is x < 1, 2x < 6 is x < 3); d != 0 and e != 0 for any c != 0.
 */
function atomsEqual(a: readonly Atom[], b: readonly Atom[]): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  const same = (x: Atom, y: Atom) => {
    if (x.op !== y.op) return false;
    const c = casRatio(x.d, y.d);
    return c !== undefined && (x.op === 'neq' ? c !== 0 : c > 0);
  };
  // chains have two or three links: trying each order is cheap
  const used = new Array<boolean>(b.length).fill(false);
  const match = (i: number): boolean =>
    i === a.length ||
    b.some((y, j) => {
      if (used[j] || !same(a[i]!, y)) return false;
      used[j] = true;
      if (match(i + 1)) return true;
      used[j] = false;
      return false;
    });
  return match(0);
}

const infinite = /^[-+]?\\infty$/;

function intervalEqual(r: Relation, interval: Extract<Answer, { kind: 'ordered' }>): boolean {
  const asInterval = relationAsInterval(r);
  if (asInterval !== undefined && answersEqual(asInterval, interval)) return true;
  // otherwise the interval as conditions on the relation's one variable: -x > -1 is (-\infty, 1)
  const names = new Set(r.terms.join(' ').replace(/\\[a-zA-Z]+/g, ' ').match(/[a-zA-Z]/g));
  const [low, high] = interval.items;
  if (names.size !== 1 || interval.items.length !== 2 || low!.kind !== 'scalar' || high!.kind !== 'scalar') return false;
  const v = [...names][0]!;
  const atoms: Atom[] = [];
  if (!infinite.test(compactAnswer(low!.tex))) atoms.push({ d: `(${low!.tex})-(${v})`, op: interval.open === '(' ? 'strict' : 'loose' });
  if (!infinite.test(compactAnswer(high!.tex))) atoms.push({ d: `(${v})-(${high!.tex})`, op: interval.close === ')' ? 'strict' : 'loose' });
  return atomsEqual(relationAtoms(r), atoms);
}

/** A column or row vector written as a matrix equals the same entries written as a tuple. */
function vectorEqual(m: Extract<Answer, { kind: 'matrix' }>, t: Extract<Answer, { kind: 'ordered' }>): boolean {
  if (t.open !== '(' || t.close !== ')') return false;
  const entries = m.rows.length === 1 ? m.rows[0]! : m.rows.every((row) => row.length === 1) ? m.rows.map((row) => row[0]!) : undefined;
  return entries !== undefined && listsEqual(entries, t.items);
}
