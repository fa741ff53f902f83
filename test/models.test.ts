// The shipped models (models/): ONNX Runtime and the engine's native kernels (each cache
// type) agree with the trainer's torch outputs (reference.json, written at export), and `rstar solve` works on them end to end: the
// steps run in the Python executor and the boxed answer is graded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Decoder, type DecoderChoice } from '../src/backends/onnx/decoder.js';
import { argmax } from '../src/backends/onnx/sampler.js';
import { OnnxPpm } from '../src/backends/onnx/ppm.js';
import { pythonSkip } from './python-skip.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const models = join(root, 'models');

interface Reference {
  greedy?: { prompt_ids: number[]; new_ids: number[]; first_logits: number[] }[];
}
const reference = (kind: string) => JSON.parse(readFileSync(join(models, kind, 'reference.json'), 'utf8')) as Reference;

const runtimes: Partial<DecoderChoice>[] = [{ runtime: 'onnxruntime' }, { runtime: 'native', kvType: 'float32' }, { runtime: 'native', kvType: 'bfloat16' }];

/** Decoding with the KV cache gives the greedy tokens torch gave at export (reference.json). */
async function torchGreedy(kind: string, choice: Partial<DecoderChoice>): Promise<void> {
  const decoder = await Decoder.open(join(models, kind), { device: 'cpu', threads: 1, ...choice });
  try {
    const cases = reference(kind).greedy!;
    assert.ok(cases.length > 0);
    for (const g of cases) {
      const first = await decoder.forward([{ ids: g.prompt_ids }], 'logits');
      const batch = first.batch;
      let out = first.out;
      let diff = 0;
      g.first_logits.forEach((x, v) => (diff = Math.max(diff, Math.abs(out[v]! - x))));
      // the bfloat16 cache rounds keys and values to 8 bits of mantissa
      assert.ok(diff < (decoder.kvType === 'bfloat16' ? 0.05 : 1e-3), `prompt logits differ by ${diff}`);
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
}

for (const choice of runtimes) {
  const name = `${choice.runtime}${choice.kvType ? `, ${choice.kvType} cache` : ''}`;
  test(`the shipped policy on ${name}: torch's greedy tokens`, () => torchGreedy('policy', choice));
  test(`the shipped PPM on ${name}: torch's greedy question tokens`, () => torchGreedy('ppm', choice));
}

test('the shipped PPM, a reviewer: a skipped sentence scores lower', async () => {
  const ppm = await OnnxPpm.open({ dir: join(models, 'ppm'), device: 'cpu', threads: 1 });
  try {
    assert.equal(ppm.output, 'logits');
    // a level-4 problem and two of the policy's own trajectories for it: the second stops
    // before the last sentence ("He spends $29 on snacks"), so it answers 36, not 7
    const problem = { id: 'p', problem: 'Ben buys 6 boxes of 5 eggs. He gives 18 eggs to Emma. He sells all the eggs for $3 each. He spends $29 on snacks. How many dollars does Ben have left?', answer: '7' };
    const head = '<code>\n# Step 1: 6 boxes of 5 eggs: count the eggs\neggs = 6 * 5\n<end_of_step>\n# Step 2: he gives 18 eggs to Emma\nleft = eggs - 18\n<end_of_step>\n# Step 3: he sells the eggs at $3 each\nmoney = left * 3\n<end_of_step>';
    const right = `${head}\n# Step 4: he spends $29 on snacks\nleft3 = money - 29\n<end_of_step>\n# Now print the final answer\nprint(left3)\n<end_of_code>\n<output>7\n<end_of_output>\n<answer>Ben has \\boxed{7} dollars left.<end_of_answer>`;
    const skipped = `${head}\n# Now print the final answer\nprint(money)\n<end_of_code>\n<output>36\n<end_of_output>\n<answer>Ben makes \\boxed{36} dollars.<end_of_answer>`;
    const [r, s] = await ppm.score([right, skipped].map((t) => ({ problem, steps: [t] })));
    assert.ok(r! > s!, `${r} vs ${s}`);
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
