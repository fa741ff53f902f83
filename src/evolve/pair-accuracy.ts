// PPM pair accuracy scored by the engine: the share of preference pairs whose chosen
// continuation the PPM values above the rejected one, each asked as the search asks (the
// problem, the trajectory as the context shows it, then the step). It works for any PPM the
// engine runs (a pairwise value head, a reviewer, a server), where the builtin trainer's own
// figure exists only for the pairwise kind, and it measures the exported model the search
// uses rather than the trainer's torch copy.
import { isRefused, type Ppm, type ScoreRequest } from '../engine/backend.js';
import { jsonlLines, parseObjectLine } from '../io/problems.js';
import { InputError } from '../errors.js';
import type { StepPair } from './training-data.js';

export interface PairAccuracy {
  /** chosen scored strictly above rejected, over the pairs both of whose sides were scored */
  accuracy: number;
  pairs: number;
  /** pairs whose sides scored the same */
  ties: number;
  /** pairs a side of which the PPM refused (longer than its context): left out of the accuracy */
  refused: number;
}

/** Scores `pairs` in batches of `batch` pairs (two requests each; a batch's pairs share prefixes, which the PPM's cache reuses). */
export async function pairAccuracy(ppm: Ppm, pairs: readonly StepPair[], batch = 64): Promise<PairAccuracy> {
  let correct = 0;
  let ties = 0;
  let refused = 0;
  for (let i = 0; i < pairs.length; i += batch) {
    const slice = pairs.slice(i, i + batch);
    const requests: ScoreRequest[] = slice.flatMap((p) => [
      { problem: p.problem, steps: [...p.steps, ...p.chosen] },
      { problem: p.problem, steps: [...p.steps, ...p.rejected] },
    ]);
    const scores = await ppm.score(requests);
    if (scores.length !== requests.length) throw new Error(`ppm ${ppm.name}: ${scores.length} scores for ${requests.length} steps`);
    for (let k = 0; k < slice.length; k++) {
      const [c, r] = [scores[2 * k]!, scores[2 * k + 1]!];
      if (isRefused(c) || isRefused(r)) refused++;
      else if (c > r) correct++;
      else if (c === r) ties++;
    }
  }
  const scored = pairs.length - refused;
  return { accuracy: scored > 0 ? correct / scored : 0, pairs: pairs.length, ties, refused };
}

/** A pairs-as-steps JSONL file (evolve's data/pairs.heldout.steps.jsonl); a bad line names the file and line. */
export async function readStepPairs(file: string): Promise<StepPair[]> {
  const pairs: StepPair[] = [];
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');
  for await (const { line, where } of jsonlLines(file)) {
    const o = parseObjectLine(line, where);
    const problem = o['problem'] as StepPair['problem'] | undefined;
    if (typeof problem?.problem !== 'string' || typeof problem.id !== 'string') throw new InputError(`${where}: field "problem" must be a problem {id, problem, answer}`);
    for (const f of ['steps', 'chosen', 'rejected']) if (!strings(o[f])) throw new InputError(`${where}: field "${f}" must be an array of strings`);
    pairs.push(o as unknown as StepPair);
  }
  return pairs;
}
