// The answer of a searched tree at inference (no ground truth): the answer step the PPM
// scores highest (rStar-Math picks by PPM score over trajectories), with each distinct
// answer's vote count beside it for majority voting.
import { shownStep } from '../format/step.js';
import { nodePath, type ExportedNode, type ExportedTree } from './export.js';

export interface Chosen {
  node: ExportedNode;
  answer: string;
  /** the PPM's score of the answer step (its Q when unscored) */
  score: number;
  /** the trajectory from the root, outputs shown after the steps that close a code block */
  trajectory: string;
  /** answer -> how many answer steps gave it */
  votes: Record<string, number>;
}

export function chooseAnswer(t: ExportedTree): Chosen | undefined {
  const answers = t.nodes.filter((n) => n.terminal === 'answer' && n.answer !== undefined);
  if (answers.length === 0) return undefined;
  const score = (n: ExportedNode) => n.ppm ?? n.Q ?? -Infinity;
  let best = answers[0]!;
  for (const n of answers) if (score(n) > score(best)) best = n;
  const votes: Record<string, number> = {};
  for (const n of answers) votes[n.answer!] = (votes[n.answer!] ?? 0) + 1;
  const trajectory = nodePath(t, best).map((n) => shownStep(n.step, n.output)).join('');
  return { node: best, answer: best.answer!, score: score(best), trajectory, votes };
}
