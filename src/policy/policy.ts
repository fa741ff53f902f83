import type { Problem } from '../io/problems.js';

/** Generate `n` candidate next steps for a trajectory: the problem and the steps so far. */
export interface StepRequest {
  problem: Problem;
  /** the steps from the root to the node being expanded, in order */
  steps: readonly string[];
  n: number;
}

/** A step generator. One call serves a whole batch of requests. */
export interface Policy {
  readonly name: string;
  /** For each request, at most `n` candidate steps (each in the rStar step format). */
  generate(requests: StepRequest[]): Promise<string[][]>;
}
