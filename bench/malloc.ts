// glibc's malloc tunables (src/util/malloc.ts) on a real search: the same `rstar synth` run
// twice in child processes, first with the process's own malloc settings (RSTAR_KEEP_MALLOC=1),
// then as the CLI starts by default (with the tunables). Same seed, so the same trees: the
// ratio is time alone. Uses dist/ (npm run build:ts) and the shipped policy unless --model.
// Run: npm run bench:malloc [-- --model DIR --count 8 --n 8 --concurrency 32]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { rstar, treeSteps } from './cli-runs.js';

const root = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(root, 'models', 'policy') },
    count: { type: 'string', default: '8' },
    n: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '32' },
  },
});
const dir = mkdtempSync(join(tmpdir(), 'rstar-bench-malloc-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const problems = join(dir, 'problems.jsonl');
rstar(['data', 'synth-problems', '--levels', '5-6', '--count', values.count, '--seed', '11', '--out', problems]);
const variants = [
  { name: 'own malloc settings', env: { RSTAR_KEEP_MALLOC: '1', GLIBC_TUNABLES: '' } },
  { name: 'with the tunables', env: { RSTAR_KEEP_MALLOC: '', GLIBC_TUNABLES: '' } },
];
const results = variants.map((v, i) => {
  const out = join(dir, `run${i}`);
  const t0 = performance.now();
  rstar(['synth', '--problems', problems, '--out', out, '--policy', `onnx:${values.model}`, '--ppm', 'none', '--rollouts', '16', '--n', values.n,
    '--concurrency', values.concurrency, '--max-tokens', '160', '--temperature', '1.2', '--seed', '3', '--no-progress'], v.env);
  const seconds = (performance.now() - t0) / 1000;
  const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as { expansions: number; nodes: number };
  const shape = treeSteps(out);
  console.log(`${v.name.padEnd(20)} ${seconds.toFixed(1).padStart(7)} s  ${stats.expansions} expansions, ${stats.nodes} nodes`);
  return { seconds, shape };
});
if (results[0]!.shape !== results[1]!.shape) console.log('note: the two runs grew different trees (the ratio compares different work)');
console.log(`speed-up with the tunables: ${(results[0]!.seconds / results[1]!.seconds).toFixed(2)}x (${values.count} problems, n = ${values.n}, concurrency ${values.concurrency})`);
