import type { Problem } from '../io/problems.js';

/** What a step turned out to be: more reasoning, a final answer, code that failed, or unreadable. */
export type StepKind = 'step' | 'answer' | 'error' | 'invalid';

export interface Verdict {
  kind: StepKind;
  /** the execution output shown to the policy, when there is one */
  output?: string;
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
