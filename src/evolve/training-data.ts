// Training data from search trees, as rStar-Math selects it (docs/ARCHITECTURE.md):
// - SFT: per solved problem, its correct trajectories with no failed code step, ranked by
//   (mean step Q, min step Q), the top k (2) as {query, response} pairs; the response is the
//   trajectory as the policy saw it (outputs after the steps that close a code block). A
//   reviewer PPM may take all of them instead (distinct texts): it learns the question back
//   from each, and the top 2 leave it few readings of each question.
// - PPM pairs: at each node, children with a correct answer below them (chosen, by Q desc)
//   against children with a wrong one below them (rejected, by Q asc): the top 2 each, or up
//   to 4 of one side when the other has only one; only pairs with Q_chosen > Q_rejected.
//   Each pair is one step under a shared prefix.
// - PPM answer pairs (the paper's relaxation for final answer steps, which rarely differ
//   under one parent): per tree, the 2 correct trajectories with the highest mean step Q
//   against the 2 wrong ones with the lowest, each whole under the question alone. At
//   inference the PPM's score of an answer step is what picks the answer: without these it
//   would be trained on intermediate steps only.
// A pair is kept as steps (StepPair: what the engine's PPM scores, as the search asks it) and
// written for the trainer as text (pairLine: {prompt, chosen, rejected}). The prompt text is
// the policy's: defaultPromptTemplate then the trajectory (src/format/prompt.ts), so SFT
// query + "\n\n" + response is exactly a prompt + completion.
import { nodePath, type ExportedNode, type ExportedTree } from '../engine/export.js';
import { shownStep } from '../format/step.js';
import { defaultPromptTemplate, renderPrompt } from '../format/prompt.js';
import type { Problem } from '../io/problems.js';

export interface SftExample {
  id: string;
  query: string;
  response: string;
  /** mean and min Q of the trajectory's steps */
  meanQ: number;
  minQ: number;
}

/** A preference pair as steps: the shared trajectory, then the chosen and the rejected continuation. */
export interface StepPair {
  id: string;
  problem: Problem;
  /** the trajectory before the step, as the context shows it (answer pairs: none) */
  steps: string[];
  /** one step (answer pairs: a whole trajectory, ending in its answer step) */
  chosen: string[];
  rejected: string[];
  /** the step's Q (answer pairs: the trajectory's mean step Q) */
  chosenQ: number;
  rejectedQ: number;
}

/** A pair as the builtin trainer reads it (trainer/README.md, PPM data). */
export interface PreferencePair {
  id: string;
  /** the question and the trajectory before the step, as the policy's prompt (answer pairs: the question) */
  prompt: string;
  chosen: string;
  rejected: string;
  chosenQ: number;
  rejectedQ: number;
}

export function pairLine(p: StepPair): PreferencePair {
  return { id: p.id, prompt: renderPrompt(defaultPromptTemplate, p.problem, p.steps), chosen: p.chosen.join(''), rejected: p.rejected.join(''), chosenQ: p.chosenQ, rejectedQ: p.rejectedQ };
}

const problemOf = (t: ExportedTree): Problem => ({ id: t.id, problem: t.problem, answer: t.answer });

const q = (n: ExportedNode) => n.Q ?? 0;

/** The trajectories ending in a graded answer of the given correctness, as the policy saw them, with their step Qs. */
function trajectories(t: ExportedTree, correct: boolean) {
  return t.nodes
    .filter((n) => n.terminal === 'answer' && n.correct === correct)
    .map((n) => {
      const steps = nodePath(t, n);
      const qs = steps.map(q);
      return {
        node: n,
        shown: steps.map((s) => shownStep(s.step, s.output)),
        meanQ: qs.reduce((a, b) => a + b, 0) / qs.length,
        minQ: Math.min(...qs),
        clean: steps.every((s) => s.codeError !== true),
      };
    });
}

export function sftExamples(t: ExportedTree, k = 2): SftExample[] {
  // a step whose code failed would teach the policy to write failing code, even when the
  // trajectory recovered from it
  const ranked = trajectories(t, true)
    .filter((r) => r.clean)
    .sort((a, b) => b.meanQ - a.meanQ || b.minQ - a.minQ);
  return ranked.slice(0, k).map((r, i) => ({
    id: `${t.id}#${i}`,
    query: t.problem,
    response: r.shown.join(''),
    meanQ: r.meanQ,
    minQ: r.minQ,
  }));
}

/** Every distinct verified trajectory with no failed code step, best ranked first: what a reviewer PPM may learn the question from. */
export function verifiedExamples(t: ExportedTree): SftExample[] {
  const seen = new Set<string>();
  return sftExamples(t, Infinity).filter((e) => !seen.has(e.response) && seen.add(e.response));
}

export function answerPairs(t: ExportedTree, k = 2): StepPair[] {
  // distinct texts: two branches can end in the same trajectory text (the first, best ranked, is kept)
  const distinct = (ts: ReturnType<typeof trajectories>) => {
    const seen = new Set<string>();
    return ts.filter((x) => {
      const text = x.shown.join('');
      return !seen.has(text) && seen.add(text);
    });
  };
  const chosen = distinct(trajectories(t, true).sort((a, b) => b.meanQ - a.meanQ || a.node.id - b.node.id)).slice(0, k);
  const rejected = distinct(trajectories(t, false).sort((a, b) => a.meanQ - b.meanQ || a.node.id - b.node.id)).slice(0, k);
  const problem = problemOf(t);
  const pairs: StepPair[] = [];
  for (const c of chosen) {
    for (const r of rejected) {
      if (!(c.meanQ > r.meanQ)) continue;
      pairs.push({ id: `${t.id}@answer:${c.node.id}>${r.node.id}`, problem, steps: [], chosen: c.shown, rejected: r.shown, chosenQ: c.meanQ, rejectedQ: r.meanQ });
    }
  }
  return pairs;
}

export function preferencePairs(t: ExportedTree): StepPair[] {
  // below[x]: whether a correct / a wrong graded answer lies in x's subtree (x included).
  // Children have higher ids than their parent, so one backward pass fills it.
  const good = new Uint8Array(t.nodes.length);
  const bad = new Uint8Array(t.nodes.length);
  for (let i = t.nodes.length - 1; i >= 0; i--) {
    const n = t.nodes[i]!;
    if (n.terminal === 'answer') (n.correct ? good : bad)[i] = 1;
    if (n.parent >= 0) {
      good[n.parent] ||= good[i]!;
      bad[n.parent] ||= bad[i]!;
    }
  }
  const children = new Map<number, ExportedNode[]>();
  for (const n of t.nodes) if (n.parent >= 0) children.set(n.parent, [...(children.get(n.parent) ?? []), n]);
  const problem = problemOf(t);
  const pairs: StepPair[] = [];
  for (const [parent, kids] of children) {
    const chosen = kids.filter((c) => good[c.id]).sort((a, b) => q(b) - q(a) || a.id - b.id);
    const rejected = kids.filter((c) => bad[c.id]).sort((a, b) => q(a) - q(b) || a.id - b.id);
    if (chosen.length === 0 || rejected.length === 0) continue;
    const kc = rejected.length === 1 ? 4 : 2;
    const kr = chosen.length === 1 ? 4 : 2;
    const steps = nodePath(t, t.nodes[parent]!).map((s) => shownStep(s.step, s.output));
    for (const c of chosen.slice(0, kc)) {
      for (const r of rejected.slice(0, kr)) {
        if (c.id === r.id || !(q(c) > q(r))) continue;
        pairs.push({ id: `${t.id}@${parent}:${c.id}>${r.id}`, problem, steps, chosen: [c.step], rejected: [r.step], chosenQ: q(c), rejectedQ: q(r) });
      }
    }
  }
  return pairs;
}
