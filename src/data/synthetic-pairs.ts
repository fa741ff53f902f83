// Preference pairs for the PPM from perturbed reference solutions of the synthetic domain.
//
// Round-1 MCTS trees give ~7 pairs a tree at ~15 s a tree on 2 cores, and a PPM trained on
// them alone could not tell the policy's wrong trajectories from right ones. The policy's
// mistakes on this domain (read off round-1 trees) are of four kinds, each made here from a
// problem's gold chain at one step:
//   swap     another template's operation instead of the question's, often on the
//            question's number ("she buys 42 more" -> "she gives 42 puzzles to Noah")
//   misread  the question's operation with a number changed in the code (320 -> 32)
//   skip     the step left out (no shipping added)
//   extra    an operation the question does not have ("share the plants among 7 friends")
// The later steps keep their operations and act on the changed value (recomputed with
// Python's integer semantics), so the wrong trajectory is whole: code, printed output and
// boxed answer, as the policy would have written it. A perturbation whose answer equals the
// gold one is dropped.
//
// Each perturbation gives two pairs in `rstar data select`'s format: a step pair (the gold
// step vs the wrong one under the gold steps before it) and an answer pair (the whole gold
// solution vs the whole wrong one, under the question). This adds to rStar-Math's method,
// whose PPM learns from MCTS pairs alone: hard negatives that cost no search.
import { defaultPromptTemplate, renderPrompt } from '../format/prompt.js';
import { renderTrajectory } from '../format/step.js';
import { hashKey, rng } from '../util/random.js';
import { drawProblems, freshName, otherOp, solutionSteps, type DrawnProblem, type GenerateOptions, type Op, type Split } from './synthetic.js';
import { UsageError } from '../errors.js';

export const perturbations = ['swap', 'misread', 'skip', 'extra'] as const;
export type Perturbation = (typeof perturbations)[number];

export interface PerturbedPair {
  /** {problem id}~{n}:{perturbation}@{step index, from 0} or ...@answer */
  id: string;
  prompt: string;
  chosen: string;
  rejected: string;
  perturbation: Perturbation;
}

/** An operation as solutionSteps writes it; `code` is its right-hand side with \0 for the previous variable. */
interface Step extends Pick<Op, 'comment' | 'base' | 'expr' | 'answer'> {
  code: string;
}

const prevMark = '\0';

function step(o: Pick<Op, 'comment' | 'base' | 'answer'>, code: string): Step {
  return { comment: o.comment, base: o.base, answer: o.answer, code, expr: (prev) => code.replaceAll(prevMark, prev) };
}

function stepOf(o: Op): Step {
  return step(o, o.expr(prevMark));
}

/**
 * The value of a step's right-hand side (integers, + - * //, unary minus, parentheses) with
 * Python's semantics: // floors. Throws on anything else; a template's code is only these.
 */
export function evaluate(code: string): number {
  const tokens = code.match(/\d+|\/\/|[-+*()]|\S/g) ?? [];
  let at = 0;
  const fail = (): never => {
    throw new Error(`synthetic-pairs: cannot evaluate "${code}"`);
  };
  const atom = (): number => {
    const t = tokens[at++];
    if (t === '-') return -atom();
    if (t === '(') {
      const v = sum();
      if (tokens[at++] !== ')') fail();
      return v;
    }
    return t !== undefined && /^\d+$/.test(t) ? Number(t) : fail();
  };
  const product = (): number => {
    let v = atom();
    for (let t = tokens[at]; t === '*' || t === '//'; t = tokens[at]) {
      at++;
      const w = atom();
      if (t === '*') v *= w;
      else v = w === 0 ? fail() : Math.floor(v / w);
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    for (let t = tokens[at]; t === '+' || t === '-'; t = tokens[at]) {
      at++;
      v = t === '+' ? v + product() : v - product();
    }
    return v;
  };
  const v = sum();
  if (at !== tokens.length || !Number.isSafeInteger(v)) fail();
  return v;
}

/** The trajectory of a chain of steps, written as synthetic.ts writes solutions: its steps' texts (the answer's excepted), the whole text and the answer. */
function render(steps: readonly Step[]): { texts: string[]; solution: string; answer: number } {
  let value = 0;
  for (const s of steps) value = evaluate(s.expr(`(${value})`));
  const used = new Set<string>();
  const all = solutionSteps(steps, String(value), steps.at(-1)!.answer, (base) => freshName(used, base));
  return { texts: all.slice(0, -1).map((s) => s.text), solution: renderTrajectory(all), answer: value };
}

/** Integer literals of a step's code that a misreading could change (not the 100 of a percentage). */
function literals(code: string): { at: number; text: string }[] {
  return [...code.matchAll(/\d+/g)].filter((m) => !(m[0] === '100' && /\/\/\s*$/.test(code.slice(0, m.index)))).map((m) => ({ at: m.index!, text: m[0] }));
}

function replaceAt(text: string, at: number, old: string, by: string): string {
  return text.slice(0, at) + by + text.slice(at + old.length);
}

/** The number written in place of the question's: a digit dropped or added, or a small change. */
function misreadNumber(r: () => number, n: string): string {
  const choice = Math.floor(r() * 3);
  if (choice === 0 && n.length >= 2) return n.slice(0, -1);
  if (choice === 1) return n + String(Math.floor(r() * 10));
  const v = Number(n) + (1 + Math.floor(r() * 9)) * (r() < 0.5 ? -1 : 1);
  return String(v >= 2 ? v : Number(n) + 3);
}

/** The comment with its first whole-word `old` number as `by`, when it has one. */
function commentWith(comment: string, old: string, by: string): string {
  return comment.replace(new RegExp(`(?<![\\d])${old}(?![\\d])`), by);
}

/** The chain with one perturbation at step k, or undefined where this kind does not apply. */
function perturbed(d: DrawnProblem, split: Split, kind: Perturbation, k: number, r: () => number): Step[] | undefined {
  const gold = d.ops.map(stepOf);
  const unit = k === 0 ? null : (d.ops[k - 1]!.to ?? null);
  const value = k === 0 ? 0 : d.ops[k - 1]!.value;
  const c = d.ctx.reseeded(r);
  switch (kind) {
    case 'swap': {
      const other = otherOp(c, unit, value, split, [d.record.template[k]!]);
      if (other === undefined) return undefined;
      let swapped = stepOf(other.op);
      // Half the time on the question's own number, as the policy's swaps mostly are.
      const mine = literals(swapped.code);
      const theirs = literals(gold[k]!.code);
      if (r() < 0.5 && mine.length === 1 && theirs.length >= 1) {
        const by = theirs[Math.floor(r() * theirs.length)]!.text;
        swapped = { ...step(swapped, replaceAt(swapped.code, mine[0]!.at, mine[0]!.text, by)), comment: commentWith(swapped.comment, mine[0]!.text, by) };
      }
      return [...gold.slice(0, k), swapped, ...gold.slice(k + 1)];
    }
    case 'misread': {
      const options = literals(gold[k]!.code);
      if (options.length === 0) return undefined;
      const lit = options[Math.floor(r() * options.length)]!;
      const by = misreadNumber(r, lit.text);
      const at = gold[k]!;
      // The comment keeps the question's number half the time: code and comment then disagree.
      const comment = r() < 0.5 ? commentWith(at.comment, lit.text, by) : at.comment;
      return [...gold.slice(0, k), { ...step(at, replaceAt(at.code, lit.at, lit.text, by)), comment }, ...gold.slice(k + 1)];
    }
    case 'skip':
      // The first step starts from the question's numbers: a chain without it is no trajectory.
      if (k === 0 || gold.length < 2) return undefined;
      return [...gold.slice(0, k), ...gold.slice(k + 1)];
    case 'extra': {
      if (k === 0) return undefined;
      const other = otherOp(c, unit, value, split, d.record.template, unit ?? undefined);
      if (other === undefined) return undefined;
      return [...gold.slice(0, k), stepOf(other.op), ...gold.slice(k)];
    }
  }
}

/**
 * `perProblem` perturbations of each problem of generateProblems(options) (kinds and steps
 * drawn from a stream of their own: the problems are the same as without pairs), two pairs
 * each. Deterministic, like the problems.
 */
export function* perturbedPairs(options: GenerateOptions & { perProblem: number }): Generator<PerturbedPair> {
  if (!(Number.isInteger(options.perProblem) && options.perProblem >= 1)) throw new UsageError(`perProblem must be an integer >= 1 (got ${options.perProblem})`);
  for (const d of drawProblems(options)) {
    const { record } = d;
    const r = rng(hashKey('rstar-synthetic-pairs', options.seed, options.split ?? 'train', record.id));
    const gold = render(d.ops.map(stepOf));
    const question = renderPrompt(defaultPromptTemplate, record, []);
    const seen = new Set<string>();
    for (let n = 0, tries = 0; n < options.perProblem && tries < 20 * options.perProblem; tries++) {
      const kind = perturbations[Math.floor(r() * perturbations.length)]!;
      const k = Math.floor(r() * d.ops.length);
      const steps = perturbed(d, options.split ?? 'train', kind, k, r);
      if (steps === undefined) continue;
      let wrong: ReturnType<typeof render>;
      try {
        wrong = render(steps);
      } catch {
        continue; // a division by zero on a changed value
      }
      if (wrong.answer === gold.answer || seen.has(wrong.solution)) continue;
      seen.add(wrong.solution);
      // the first step where the texts part (the same as k, unless a swap wrote the same text)
      const at = gold.texts.findIndex((t, i) => t !== wrong.texts[i]);
      if (at < 0) continue;
      const id = `${record.id}~${n}:${kind}`;
      yield { id: `${id}@${at}`, prompt: question + gold.texts.slice(0, at).join(''), chosen: gold.texts[at]!, rejected: wrong.texts[at]!, perturbation: kind };
      yield { id: `${id}@answer`, prompt: question, chosen: record.solution, rejected: wrong.solution, perturbation: kind };
      n++;
    }
  }
}
