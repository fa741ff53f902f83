// SIMULATED PPM: a noisy, deterministic score that leans positive on simulated steps of a
// still-correct trajectory and negative after a wrong or failed step. For tests and
// benchmarks of the search with PPM-initialised values (round >= 2 semantics).
import { simState, simTag, sleep } from './policy.js';
import { hashKey, rng } from '../util/random.js';
import type { Ppm, ScoreRequest } from '../engine/backend.js';

export interface SimPpmOptions {
  seed: number;
  /** 0: the score is the sign of the truth; 1: as much noise as signal */
  noise: number;
  latencyMs: number;
}

export class SimPpm implements Ppm {
  readonly name = 'sim';
  readonly options: SimPpmOptions;

  constructor(options: Partial<SimPpmOptions> = {}) {
    this.options = { seed: 0, noise: 0.5, latencyMs: 0, ...options };
  }

  async score(requests: ScoreRequest[]): Promise<number[]> {
    await sleep(this.options.latencyMs);
    return requests.map(({ problem, steps }) => {
      const { derailed } = simState(steps);
      const last = steps.length > 0 ? simTag(steps[steps.length - 1]!) : undefined;
      const truth = derailed || last === 'error' ? -0.5 : 0.5;
      const u = rng(hashKey(this.options.seed, 'ppm', problem.id, ...steps))();
      return Math.tanh(2 * (truth + (u - 0.5) * 2 * this.options.noise));
    });
  }
}
