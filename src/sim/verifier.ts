// SIMULATED verifier: classifies the simulated policy's steps by their [sim:...] tags
// instead of running their code. It pairs with SimPolicy only; real steps need the Python
// executor.
import { simTag } from './policy.js';
import { lastBoxed, shownStep, stopStrings } from '../format/step.js';
import type { Verdict, Verifier, VerifyRequest } from '../engine/backend.js';

export class SimVerifier implements Verifier {
  readonly name = 'sim';

  async verify(requests: VerifyRequest[]): Promise<Verdict[]> {
    return requests.map(({ step }) => {
      const v = classify(step);
      return { ...v, shown: shownStep(step, v.output) };
    });
  }
}

function classify(step: string): Omit<Verdict, 'shown'> {
  const tag = simTag(step);
  const ended = stopStrings.some((stop) => step.endsWith(stop));
  if (tag === undefined || !ended) return { kind: 'invalid' };
  if (tag === 'error') return { kind: 'error', output: 'NameError: simulated code error' };
  const answer = lastBoxed(step);
  if (answer !== undefined) {
    const output = /<output>([\s\S]*?)<end_of_output>/.exec(step)?.[1];
    return output === undefined ? { kind: 'answer', answer } : { kind: 'answer', answer, output };
  }
  return { kind: 'step' };
}
