// SIMULATED policy: a deterministic, seeded generator of synthetic steps in the rStar step
// format, for tests and benchmarks of the search machinery. It knows nothing of maths: each
// problem gets a hidden solution length, each step is drawn as correct, wrong or a code
// error, and a trajectory whose steps were all correct ends in the gold answer. The tag
// [sim:ok|wrong|error] in each step's comment carries the trajectory's state, so the
// simulated verifier and PPM can read it back.
import type { Problem } from '../io/problems.js';
import { hashKey, rng } from '../util/random.js';
import { answerEnd, codeEnd, stepEnd } from '../format/step.js';
import type { Policy, StepRequest } from '../engine/backend.js';

export interface SimOptions {
  seed: number;
  /** fewest and most non-error steps a problem's solution takes */
  minSteps: number;
  maxSteps: number;
  /** probability that a step is correct; the rest, less pError, are wrong */
  pCorrect: number;
  /** probability that a step's code fails */
  pError: number;
  /** wall-clock latency of each policy call, to model a real model's cost */
  latencyMs: number;
  /** a problem id whose expansion kills this process (SIGKILL): a backend that crashes its worker, for testing recovery */
  crashOn?: string;
}

export const simDefaults: SimOptions = { seed: 0, minSteps: 2, maxSteps: 6, pCorrect: 0.75, pError: 0.1, latencyMs: 0 };

export type SimTag = 'ok' | 'wrong' | 'error';
const tagPattern = /\[sim:(ok|wrong|error)\]/;

export function simTag(step: string): SimTag | undefined {
  return tagPattern.exec(step)?.[1] as SimTag | undefined;
}

/** Where a simulated trajectory stands: steps taken (errors excluded) and whether one was wrong. */
export function simState(steps: readonly string[]): { progress: number; derailed: boolean } {
  let progress = 0;
  let derailed = false;
  for (const s of steps) {
    const tag = simTag(s);
    if (tag === 'ok' || tag === 'wrong') progress++;
    if (tag === 'wrong') derailed = true;
  }
  return { progress, derailed };
}

export function solutionLength(problem: Problem, o: SimOptions): number {
  return o.minSteps + (hashKey(o.seed, 'length', problem.id) % (o.maxSteps - o.minSteps + 1));
}

function wrongAnswer(gold: string, draw: number): string {
  const delta = 1 + Math.floor(draw * 9);
  const g = Number(gold.replace(/,/g, ''));
  return Number.isFinite(g) ? String(g + delta) : `${gold}+${delta}`;
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : new Promise((r) => setImmediate(r));
}

export class SimPolicy implements Policy {
  readonly name = 'sim';
  readonly options: SimOptions;

  constructor(options: Partial<SimOptions> = {}) {
    this.options = { ...simDefaults, ...options };
    const o = this.options;
    if (!(o.minSteps >= 1 && o.maxSteps >= o.minSteps)) throw new Error('sim policy: need 1 <= minSteps <= maxSteps');
    if (!(o.pCorrect >= 0 && o.pError >= 0 && o.pCorrect + o.pError <= 1)) throw new Error('sim policy: need pCorrect, pError >= 0 and pCorrect + pError <= 1');
  }

  async generate(requests: StepRequest[]): Promise<string[][]> {
    if (this.options.crashOn !== undefined && requests.some((r) => r.problem.id === this.options.crashOn)) process.kill(process.pid, 'SIGKILL');
    await sleep(this.options.latencyMs);
    return requests.map((r) => this.candidates(r));
  }

  private candidates({ problem, steps, n }: StepRequest): string[] {
    const o = this.options;
    const length = solutionLength(problem, o);
    const { progress, derailed } = simState(steps);
    const base = hashKey(o.seed, problem.id, ...steps);
    const k = steps.length + 1;
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const random = rng(base ^ Math.imul(i + 1, 0x9e3779b9));
      const u = random();
      const tag: SimTag = u < o.pError ? 'error' : u < o.pError + o.pCorrect ? 'ok' : 'wrong';
      if (tag === 'error') {
        out.push(`<code>\n# Step ${k}: combine the quantities [sim:error]\ns${k} = s${k - 1} * undefined_${k}\n${stepEnd}`);
      } else if (progress + 1 < length) {
        const a = 1 + Math.floor(random() * 97);
        out.push(`<code>\n# Step ${k}: combine the quantities [sim:${tag}]\ns${k} = s${k - 1} + ${a}\n${stepEnd}`);
      } else {
        const answer = derailed || tag === 'wrong' ? wrongAnswer(problem.answer, random()) : problem.answer;
        out.push(
          `<code>\n# Step ${k}: print the final answer [sim:${tag}]\nprint(s${k - 1})\n${codeEnd}\n` +
            `<output>${answer}<end_of_output>\n<answer>The answer is \\boxed{${answer}}${answerEnd}`,
        );
      }
    }
    return out;
  }
}
