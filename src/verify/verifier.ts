import type { Problem } from '../io/problems.js';

/** What a step turned out to be: more reasoning, a final answer, code that failed, or unreadable. */
export type StepKind = 'step' | 'answer' | 'error' | 'invalid';

export interface Verdict {
  kind: StepKind;
  /** the execution output (an error's message), when there is one */
  output?: string;
  /** why: the executor's error kind (timeout, sandbox...) or the invalid step's reason */
  why?: string;
  /** the final answer (the last \boxed{...}) of an answer step */
  answer?: string;
}

export interface VerifyRequest {
  problem: Problem;
  /** the trajectory before the step */
  steps: readonly string[];
  step: string;
}

/** Checks candidate steps (the real one runs their Python code); one call serves a batch. */
export interface Verifier {
  readonly name: string;
  verify(requests: VerifyRequest[]): Promise<Verdict[]>;
  /** The problem's tree is done: state kept for it (saved interpreter states) can go. */
  forget?(problemId: string): void;
}

export interface GradeRequest {
  answer: string;
  gold: string;
}

/** Decides whether final answers match the gold answers. */
export interface Grader {
  readonly name: string;
  grade(requests: GradeRequest[]): Promise<boolean[]>;
}
