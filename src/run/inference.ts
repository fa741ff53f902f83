// Search without ground truth (eval, solve): the gold answer never reaches the search. With a
// PPM, answers are scored by it and the best-scored one is the answer (rStar-Math
// inference); greedy writes one trajectory at temperature 0.
import type { Grader } from '../engine/backend.js';
import type { SearchOptions } from '../engine/options.js';
import type { BackendOptions } from '../backends/options.js';
import { UsageError } from '../errors.js';

/** The search and backend options of a greedy run (one trajectory, temperature 0) or of a PPM-guided search. */
export function inferenceOptions(greedy: boolean, search: SearchOptions, backend: BackendOptions): { search: SearchOptions; backend: BackendOptions } {
  if (greedy) {
    return {
      search: { ...search, rollouts: 1, n: 1, rolloutsInFlight: 1, answers: backend.ppm === 'none' ? 'graded' : 'ppm' },
      backend: { ...backend, temperature: 0 },
    };
  }
  if (backend.ppm === 'none') throw new UsageError('a search without ground truth needs a PPM to choose the answer: give --ppm, or --greedy');
  return { search: { ...search, answers: 'ppm' }, backend };
}

/** During the search no answer is graded against the gold: graded mode (greedy, no PPM) sees -1 for every answer. */
export const blindGrader: Grader = {
  name: 'blind',
  async grade(requests) {
    return requests.map(() => false);
  },
};
