import type { Problem } from '../io/problems.js';

export interface ScoreRequest {
  problem: Problem;
  /** the trajectory up to and including the step to score */
  steps: readonly string[];
}

/** A process preference model: one score in [-1, 1] per step (tanh(r / 5) for a real PPM). */
export interface Ppm {
  readonly name: string;
  score(requests: ScoreRequest[]): Promise<number[]>;
}
