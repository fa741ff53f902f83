// int8 weights (trainer/rstar_trainer/quantize.py): the quantized export of the fixture policy
// loads in the engine and mostly picks the float model's tokens, with logits close to its.
// (On the shipped policy, greedy pass@1 on the model card's 300 held-out problems: 237 int8,
// 239 float; bench/RESULTS.md.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Decoder } from '../src/backends/onnx/decoder.js';
import { argmax } from '../src/backends/onnx/sampler.js';
import { torchSkip, trainPython } from './python-skip.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const models = join(repoRoot, 'test', 'fixtures', 'models');

test('int8 weights: the engine loads them; they pick the float model\'s tokens almost everywhere', { skip: torchSkip }, async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'rstar-int8-')), 'policy');
  try {
    const r = spawnSync(trainPython, ['-m', 'rstar_trainer.quantize', '--from', join(models, 'policy-in-place'), '--out', out], { cwd: join(repoRoot, 'trainer'), encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    assert.equal(r.status, 0, r.stderr);
    // per layer q, k, v, o, gate, up, down (2 layers), and the LM head: not the attention's two
    assert.match(r.stdout, /quantize: 15 MatMuls to int8/);
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).rstar_weights, 'int8 per column');
    const reference = JSON.parse(readFileSync(join(models, 'reference.json'), 'utf8')) as { greedy: { prompt_ids: number[]; new_ids: number[]; first_logits: number[] }[] };
    const float = await Decoder.open(join(models, 'policy-in-place'), { device: 'cpu', runtime: 'onnxruntime', threads: 1 });
    const int8 = await Decoder.open(out, { device: 'cpu', threads: 1 });
    try {
      assert.equal(int8.kvKind, 'in-place');
      // teacher-forced along torch's greedy paths: how often the int8 model picks the float
      // model's token, and how far its logits are (a wrong scale or a transposed weight would
      // make this chance, about 1 in 100; here 133 of 144 agree, the rest near-ties of random weights)
      let same = 0;
      let positions = 0;
      let worst = 0;
      for (const g of reference.greedy) {
        const ids = [...g.prompt_ids, ...g.new_ids];
        const rows = Array.from({ length: g.new_ids.length }, (_, t) => ({ ids: ids.slice(0, g.prompt_ids.length + t) }));
        const [a, b] = await Promise.all([float, int8].map((d) => d.encode(rows, 'logits', 32, 4096)));
        a!.forEach((x, i) => {
          const y = b![i]!.out;
          positions++;
          if (argmax(y) === argmax(x.out)) same++;
          let diff = 0;
          let scale = 0;
          for (let v = 0; v < y.length; v++) {
            diff = Math.max(diff, Math.abs(x.out[v]! - y[v]!));
            scale = Math.max(scale, Math.abs(x.out[v]!));
          }
          worst = Math.max(worst, diff / scale);
        });
      }
      assert.ok(same / positions >= 0.8, `the int8 model picks the float model's token at ${same} of ${positions} positions`);
      assert.ok(worst < 0.15, `logits differ by up to ${(100 * worst).toFixed(1)}% of the largest`);
    } finally {
      await float.release();
      await int8.release();
    }
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
});
