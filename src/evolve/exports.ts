// Training data in the shapes the ecosystem's trainers load (Hugging Face TRL and others):
// - SFT as prompt-completion rows: {prompt, completion} (TRL SFTTrainer);
// - PPM pairs as preference rows: {prompt, chosen, rejected} (TRL RewardTrainer, DPOTrainer);
// - stepwise supervision: {prompt, completions: [step...], labels: [bool...]} (TRL PRMTrainer),
//   one row per answer trajectory of a tree, a step labelled true when a correct answer lies
//   below it (the same "reaches a correct answer" the PPM pairs are chosen by).
import { nodePath, type ExportedTree } from '../engine/export.js';
import { defaultPromptTemplate, renderPrompt } from '../format/prompt.js';
import { shownStep } from '../format/step.js';
import type { PreferencePair, SftExample } from './training-data.js';

export interface PromptCompletion {
  prompt: string;
  completion: string;
}

export interface PreferenceRow {
  prompt: string;
  chosen: string;
  rejected: string;
}

export interface StepwiseRow {
  prompt: string;
  completions: string[];
  labels: boolean[];
}

/** The policy's prompt is the SFT query in the default template; the completion is the response. */
export function promptCompletion(e: SftExample): PromptCompletion {
  return { prompt: defaultPromptTemplate.replace('{problem}', e.query), completion: e.response };
}

export function preferenceRow(p: PreferencePair): PreferenceRow {
  return { prompt: p.prompt, chosen: p.chosen, rejected: p.rejected };
}

export function stepwiseRows(t: ExportedTree): StepwiseRow[] {
  // good[x]: a correct graded answer lies in x's subtree (children have higher ids than their parent)
  const good = new Uint8Array(t.nodes.length);
  for (let i = t.nodes.length - 1; i >= 0; i--) {
    const n = t.nodes[i]!;
    if (n.terminal === 'answer' && n.correct === true) good[i] = 1;
    if (n.parent >= 0) good[n.parent] ||= good[i]!;
  }
  const prompt = renderPrompt(defaultPromptTemplate, t, []);
  return t.nodes
    .filter((n) => n.terminal === 'answer' && n.correct !== undefined)
    .map((n) => {
      const path = nodePath(t, n);
      return { prompt, completions: path.map((s) => shownStep(s.step, s.output)), labels: path.map((s) => good[s.id] === 1) };
    });
}
