// A plain grader for the foundation: answers are equal when their normalised text is equal
// or both are the same number. Mathematical equivalence (fractions, LaTeX, intervals...)
// is the real grader's job.
import type { GradeRequest, Grader } from '../engine/backend.js';

export function normalizeAnswer(s: string): string {
  return s
    .replace(/\\text\{([^}]*)\}/g, '$1')
    .replace(/\\[,!;: $]/g, '')
    .replace(/[\s$]/g, '')
    .replace(/(\d),(?=\d{3}\b)/g, '$1')
    .replace(/\.$/, '');
}

const decimal = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

export function exactEqual(answer: string, gold: string): boolean {
  const a = normalizeAnswer(answer);
  const g = normalizeAnswer(gold);
  if (a === g) return true;
  return decimal.test(a) && decimal.test(g) && Number(a) === Number(g);
}

export class ExactGrader implements Grader {
  readonly name = 'exact';

  async grade(requests: GradeRequest[]): Promise<boolean[]> {
    return requests.map(({ answer, gold }) => exactEqual(answer, gold));
  }
}
