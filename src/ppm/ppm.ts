import type { Problem } from '../io/problems.js';
import type { Refused } from '../policy/policy.js';
import type { PpmHead } from './head.js';

export interface ScoreRequest {
  problem: Problem;
  /** the trajectory up to and including the step to score */
  steps: readonly string[];
}

/** A process preference model: one score in [-1, 1] per step (tanh(r / 5) for a real PPM). */
export interface Ppm {
  readonly name: string;
  score(requests: ScoreRequest[]): Promise<number[]>;
  /**
   * A PPM that outputs hidden states sets `head` and `hidden`: the search then scores with
   * the tree engine's fused step (the head applied and the value written in one call).
   */
  readonly head?: PpmHead | undefined;
  /** the last hidden state of each request's step, [requests, head.weight.length] */
  hidden?(requests: ScoreRequest[]): Promise<Float32Array>;
  /**
   * score() and hidden(), where a request the model cannot take (longer than its context) is
   * answered with why (a refused request's hidden row is zero): the search ends that
   * problem's tree with the reason. The search calls these when a PPM has them.
   */
  scoreOrRefuse?(requests: ScoreRequest[]): Promise<(number | Refused)[]>;
  hiddenOrRefuse?(requests: ScoreRequest[]): Promise<{ hidden: Float32Array; refused: (Refused | undefined)[] }>;
}
