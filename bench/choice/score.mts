// Answer choice offline, step 1: every answer node of searched trees (`rstar synth` or
// `rstar eval --trees` output) with its trajectory, whether it is right, and each PPM's
// score of it as the search computes it (the steps before it as shown, then its step).
// One JSON line per tree (answers [] when it reached none); bench/choice/likelihood.py adds the
// policy's likelihood and prints how often each way of choosing picks a right answer.
//
//   node --import tsx bench/choice/score.mts TREES.jsonl OUT.jsonl [PPM_DIR...]
//
// With the PPM the trees were searched with, its scores must equal the stored ones: the
// largest difference is printed (a check of this script, ~1e-6 from float sums).
import { writeFileSync } from 'node:fs';
import { nodePath, readTrees } from '../../src/engine/export.js';
import { shownStep } from '../../src/format/step.js';
import { defaultPromptTemplate, renderPrompt } from '../../src/format/prompt.js';
import { OnnxPpm } from '../../src/backends/onnx/ppm.js';
import { equivalent } from '../../src/grade/equivalence.js';

const [treesFile, outFile, ...ppmDirs] = process.argv.slice(2);
if (treesFile === undefined || outFile === undefined) {
  console.error('usage: node --import tsx bench/choice/score.mts TREES.jsonl OUT.jsonl [PPM_DIR...]');
  process.exit(2);
}
const ppms = await Promise.all(ppmDirs.map((dir) => OnnxPpm.open({ dir })));
const lines: string[] = [];
let storedDiff = 0;
for await (const t of readTrees(treesFile)) {
  const nodes = t.nodes.filter((n) => n.terminal === 'answer' && n.answer !== undefined);
  const paths = nodes.map((n) => nodePath(t, n));
  const requests = paths.map((p) => ({ problem: t, steps: [...p.slice(0, -1).map((n) => shownStep(n.step, n.output)), p.at(-1)!.step] }));
  const scores: Record<string, number[]> = {};
  for (const [i, ppm] of ppms.entries()) {
    const s: number[] = [];
    for (let k = 0; k < requests.length; k += 32) s.push(...(await ppm.score(requests.slice(k, k + 32))));
    scores[ppmDirs[i]!] = s;
    if (i === 0) nodes.forEach((n, k) => typeof n.ppm === 'number' && (storedDiff = Math.max(storedDiff, Math.abs(n.ppm - s[k]!))));
  }
  const answers = nodes.map((n, k) => ({
    answer: String(n.answer),
    // synth trees are graded; eval trees (answers chosen by the PPM) are graded here
    correct: n.correct ?? equivalent(String(n.answer), String(t.answer)),
    text: requests[k]!.steps.join(''),
    ppm: Object.fromEntries(Object.entries(scores).map(([dir, s]) => [dir, s[k]!])),
  }));
  lines.push(JSON.stringify({ id: t.id, question: renderPrompt(defaultPromptTemplate, t, []), answers }));
}
writeFileSync(outFile, lines.join('\n') + '\n');
console.error(`${lines.length} trees -> ${outFile}; largest |stored score - ${ppmDirs[0] ?? '(no PPM)'}|: ${storedDiff.toExponential(1)}`);
