// A piscina worker of MathGrader: grades one batch of (pred, gold) pairs in order, writing
// each result into the batch's shared buffer as it goes (see grader-shared.ts).
import { equivalent } from './equivalence.js';
import { SharedResults } from './grader-shared.js';

export interface GradeTask {
  pairs: [pred: string, gold: string][];
  buffer: SharedArrayBuffer;
  /** Date.now() when the pool made the batch: times in the buffer count from it */
  epoch: number;
}

export default function gradeTask({ pairs, buffer, epoch }: GradeTask): void {
  const results = new SharedResults(pairs.length, buffer);
  pairs.forEach(([pred, gold], i) => {
    results.begin(i, Date.now() - epoch);
    try {
      results.finish(i, equivalent(pred, gold));
    } catch (e) {
      results.fail(i, `comparison failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
}
