// The shipped models (models/): ONNX Runtime agrees with the trainer's torch outputs
// (reference.json, written at export), and `rstar solve` works on them end to end: the
// steps run in the Python executor and the boxed answer is graded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Decoder } from '../src/model/decoder.js';
import { argmax } from '../src/model/sampler.js';
import { OnnxPpm } from '../src/ppm/onnx.js';
import { pythonSkip } from './python-skip.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const models = join(root, 'models');

interface Reference {
  greedy?: { prompt_ids: number[]; new_ids: number[]; first_logits: number[] }[];
  ppm?: { ids: number[]; raw: number[] }[];
}
const reference = (kind: string) => JSON.parse(readFileSync(join(models, kind, 'reference.json'), 'utf8')) as Reference;

test('the shipped policy: ONNX Runtime with the KV cache gives torch\'s greedy tokens', async () => {
  const decoder = await Decoder.open(join(models, 'policy'), 'cpu', 1);
  try {
    const cases = reference('policy').greedy!;
    assert.ok(cases.length > 0);
    for (const g of cases) {
      const first = await decoder.forward([{ ids: g.prompt_ids }], 'logits');
      const batch = first.batch;
      let out = first.out;
      let diff = 0;
      g.first_logits.forEach((x, v) => (diff = Math.max(diff, Math.abs(out[v]! - x))));
      assert.ok(diff < 1e-3, `prompt logits differ by ${diff}`);
      const tokens: number[] = [];
      for (let s = 0; s < g.new_ids.length; s++) {
        tokens.push(argmax(out));
        if (s < g.new_ids.length - 1) out = await decoder.step(batch, Int32Array.of(tokens.at(-1)!), Uint8Array.of(1), 'logits');
      }
      assert.deepEqual(tokens, g.new_ids);
    }
  } finally {
    await decoder.release();
  }
});

test('the shipped PPM: ONNX Runtime scores as torch does', async () => {
  const ppm = await OnnxPpm.open({ dir: join(models, 'ppm'), device: 'cpu', threads: 1, template: '{problem}' });
  try {
    const cases = reference('ppm').ppm!;
    assert.ok(cases.length > 0);
    const text = await Promise.all(cases.map((c) => ppm.tokenizer.decode(c.ids)));
    const scores = await ppm.score(text.map((t) => ({ problem: { id: 'p', problem: t, answer: '' }, steps: [] })));
    cases.forEach((c, i) => {
      const torch = Math.tanh(c.raw.at(-1)! / 5);
      assert.ok(Math.abs(scores[i]! - torch) < 1e-4, `${scores[i]} vs ${torch}`);
    });
  } finally {
    await ppm.close();
  }
});

test('rstar solve --greedy with the shipped models: executed steps and the right boxed answer', { skip: pythonSkip, timeout: 120_000 }, () => {
  const problem = 'Ava has 23 stickers and gets 19 more. She gives away 12 stickers. How many stickers does Ava have left?';
  const r = spawnSync(process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'solve', problem, '--greedy', '--answer', '30', '--json', '--threads', '1'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { answer: string; correct: boolean; trajectory: string };
  assert.match(out.trajectory, /^<code>\n# Step 1: /);
  assert.match(out.trajectory, /<output>30\n<end_of_output>/, 'the printed value comes from running the code');
  assert.match(out.trajectory, /\\boxed\{30\}/);
  assert.equal(out.answer, '30');
  assert.equal(out.correct, true);
});
