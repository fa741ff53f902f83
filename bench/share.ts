// Twins sharing a row (OnnxPolicy's decode: samples of one prompt that have drawn the same
// tokens so far decode as one batch row) on a real search: the same `rstar synth` run in
// child processes with the default and with --no-share-samples, alternated --repeat times.
// One rollout in flight per tree, so the schedule does not depend on timing and both must
// grow the same trees (checked): the ratio is time alone. Uses dist/ (npm run build:ts) and
// the shipped policy and PPM unless --policy / --ppm.
// Run: npm run bench:share [-- --count 40 --levels 4-6 --n 4 --rollouts 8 --repeat 2]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { rstar, treeSteps } from './cli-runs.js';

const root = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    policy: { type: 'string', default: join(root, 'models', 'policy') },
    ppm: { type: 'string', default: join(root, 'models', 'ppm') },
    count: { type: 'string', default: '40' },
    levels: { type: 'string', default: '4-6' },
    n: { type: 'string', default: '4' },
    rollouts: { type: 'string', default: '8' },
    temperature: { type: 'string', default: '0.7' },
    repeat: { type: 'string', default: '2' },
  },
});
const dir = mkdtempSync(join(tmpdir(), 'rstar-bench-share-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const problems = join(dir, 'problems.jsonl');
rstar(['data', 'synth-problems', '--levels', values.levels!, '--count', values.count!, '--seed', '51', '--split', 'train', '--out', problems]);
const variants = [
  { name: 'rows shared', flags: [] },
  { name: '--no-share-samples', flags: ['--no-share-samples'] },
];
interface Stats {
  seconds: number;
  rollouts: number;
  /** steps identical to another sample's of the same expansion (merged by the search) */
  duplicateSteps: number;
  models: { policy: { decodeRows: number; decodeSteps: number; modelMs: number; steps: number } };
}
const runs: { seconds: number[]; stats?: Stats; shape?: string }[] = variants.map(() => ({ seconds: [] }));
for (let r = 0; r < Number(values.repeat); r++) {
  variants.forEach((v, i) => {
    const out = join(dir, `run${i}`);
    rstar(['synth', '--problems', problems, '--out', out, '--overwrite', '--policy', `onnx:${values.policy}`, '--ppm', `onnx:${values.ppm}`,
      '--rollouts', values.rollouts!, '--n', values.n!, '--rollouts-in-flight', '1', '--temperature', values.temperature!, '--seed', '3', '--no-progress', ...v.flags]);
    const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as Stats;
    runs[i]!.seconds.push(stats.seconds);
    runs[i]!.stats = stats;
    runs[i]!.shape = treeSteps(out);
  });
}
console.log(`${values.count} problems of levels ${values.levels}, ${values.rollouts} rollouts, n = ${values.n}, temperature ${values.temperature}, one rollout in flight; search seconds of ${values.repeat} alternated runs`);
console.log('| decode | search s (each run) | rollouts/s (best) | policy steps | duplicates | decode steps | decode rows | rows a step | policy model s |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
variants.forEach((v, i) => {
  const { seconds, stats } = runs[i]!;
  const p = stats!.models.policy;
  const best = Math.min(...seconds);
  console.log(`| ${v.name} | ${seconds.map((s) => s.toFixed(1)).join(', ')} | ${(stats!.rollouts / best).toFixed(2)} | ${p.steps} | ${((100 * stats!.duplicateSteps) / p.steps).toFixed(0)}% | ${p.decodeSteps} | ${p.decodeRows} | ${(p.decodeRows / p.decodeSteps).toFixed(1)} | ${(p.modelMs / 1000).toFixed(1)} |`);
});
if (runs[0]!.shape !== runs[1]!.shape) console.log('note: the two grew different trees: the ratio compares different work');
else console.log('both grew the same trees');
const best = runs.map((r) => Math.min(...r.seconds));
console.log(`speed-up from shared rows: ${(best[1]! / best[0]!).toFixed(2)}x (best search time of each)`);
