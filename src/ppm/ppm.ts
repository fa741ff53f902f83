import type { Problem } from '../io/problems.js';
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
}
