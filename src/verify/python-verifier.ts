// The real verifier: parses each candidate step (step.ts), runs a code step's program in
// the sandboxed Python pool, and classifies it. Answers and unusable steps need no run.
//
// cumulative: each code step runs its whole block again from a fresh namespace (as the
//   authors do).
// incremental: each code step runs alone on a copy of its parent's saved interpreter state;
//   states are keyed by a hash of the program that made them, per problem, so identical
//   prefixes share one. Outputs equal cumulative mode's (see test/executor.test.ts).
import { createHash } from 'node:crypto';
import type { ExecRequest } from './executor.js';
import type { ExecutorPool } from './executor-pool.js';
import { blockProgram, parseStep, shownStep } from '../format/step.js';
import type { Verdict, Verifier, VerifyRequest } from '../engine/backend.js';

export type ExecMode = 'cumulative' | 'incremental';

function stateKey(program: string): string {
  return createHash('sha1').update(program).digest('base64url');
}

export class PythonVerifier implements Verifier {
  readonly name = 'python';

  constructor(
    readonly pool: ExecutorPool,
    readonly mode: ExecMode = 'cumulative',
  ) {}

  async verify(requests: VerifyRequest[]): Promise<Verdict[]> {
    const verdicts = new Array<Verdict>(requests.length);
    const runs: ExecRequest[] = [];
    const runFor: number[] = [];
    requests.forEach((r, i) => {
      const step = parseStep(r.step);
      if (step.kind === 'answer') {
        verdicts[i] = { kind: 'answer', answer: step.answer, shown: r.step };
      } else if (step.kind === 'invalid') {
        verdicts[i] = { kind: 'invalid', why: step.reason, shown: r.step };
      } else {
        const { program, blockStart } = blockProgram(r.steps, step.code);
        const run: ExecRequest = { program };
        if (this.mode === 'incremental') {
          const prefix = program.slice(0, program.length - step.code.length);
          Object.assign(run, {
            tree: r.problem.id,
            node: stateKey(program),
            parent: blockStart < r.steps.length ? stateKey(prefix) : null,
            step: step.code,
          });
        }
        runs.push(run);
        runFor.push(i);
      }
    });
    const results = await this.pool.execute(runs);
    results.forEach((res, k) => {
      const step = requests[runFor[k]!]!.step;
      const output = res.ok ? res.stdout : (res.message ?? res.error!);
      const shown = shownStep(step, output);
      verdicts[runFor[k]!] = res.ok ? { kind: 'step', output, shown } : { kind: 'error', output, why: res.error!, shown };
    });
    return verdicts;
  }

  forget(problemId: string): void {
    if (this.mode === 'incremental') this.pool.drop(problemId);
  }
}
