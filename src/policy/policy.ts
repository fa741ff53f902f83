import type { Problem } from '../io/problems.js';

/** Generate `n` candidate next steps for a trajectory: the problem and the steps so far. */
export interface StepRequest {
  problem: Problem;
  /** the steps from the root to the node being expanded, in order */
  steps: readonly string[];
  n: number;
}

/** A request the policy will not run, and why: e.g. "prompt too long: 5000 tokens > 2047". */
export interface Refused {
  refused: string;
}

/** A step generator. One call serves a whole batch of requests. */
export interface Policy {
  readonly name: string;
  /** For each request, at most `n` candidate steps (each in the rStar step format). */
  generate(requests: StepRequest[]): Promise<string[][]>;
  /**
   * generate(), where a request the model cannot take (a prompt longer than its context)
   * is answered with why instead of failing the batch: the search then ends that problem's
   * tree with the reason. The search calls this one when a policy has it.
   */
  generateOrRefuse?(requests: StepRequest[]): Promise<(string[] | Refused)[]>;
}
