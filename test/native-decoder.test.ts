// The engine's own CPU kernels (src/backends/onnx/native.ts over native/src/decoder.cpp)
// against ONNX Runtime on the same weights: the shipped models, whose dirs hold both
// model.onnx and model.safetensors. Ragged prompt runs, decode steps on a batch with room,
// greedy steps through OnnxPolicy, the reviewer PPM's scores, and the errors a user can meet.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Decoder, type Row } from '../src/backends/onnx/decoder.js';
import { OnnxPolicy } from '../src/backends/onnx/policy.js';
import { OnnxPpm } from '../src/backends/onnx/ppm.js';
import { Tokenizer } from '../src/backends/onnx/tokenizer.js';
import { argmax } from '../src/backends/onnx/sampler.js';
import { generateProblems } from '../src/data/synthetic.js';

const dir = new URL('../models/policy/', import.meta.url).pathname;
const ppmDir = new URL('../models/ppm/', import.meta.url).pathname;
const problems = generateProblems({ levels: [2, 4, 6], count: 6, seed: 9, split: 'train' });
let ort: Decoder;
let f32: Decoder;
let bf16: Decoder;
let rows: Row[];

before(async () => {
  ort = await Decoder.open(dir, { device: 'cpu', runtime: 'onnxruntime', threads: 1 });
  f32 = await Decoder.open(dir, { device: 'cpu', runtime: 'native', kvType: 'float32', threads: 2 });
  bf16 = await Decoder.open(dir, { device: 'cpu', runtime: 'native', kvType: 'bfloat16', threads: 2 });
  const tokenizer = Tokenizer.load(join(dir, 'tokenizer.json'));
  rows = await Promise.all(problems.map(async (p) => ({ ids: await tokenizer.encode(`${p.problem}\n\n`) })));
});
after(async () => {
  for (const d of [ort, f32, bf16]) await d.release();
});

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('auto picks the native kernels for the shipped policy on the CPU, and says so', async () => {
  const d = await Decoder.open(dir, { device: 'cpu' });
  try {
    assert.equal(d.provider, 'native');
    assert.equal(d.kvKind, 'in-place');
    assert.match(d.providerReason, /auto: the engine's CPU kernels apply, bfloat16 cache/);
  } finally {
    await d.release();
  }
  assert.equal(ort.provider, 'cpu');
  assert.equal(f32.provider, 'native');
});

test('ragged prompt runs, then decode steps with room: native float32 matches ONNX Runtime, bfloat16 stays near', async () => {
  const runs = await Promise.all([ort, f32, bf16].map((d) => d.forward(rows, 'logits', 24)));
  const [o, a, b] = runs;
  assert.ok(maxDiff(a!.out, o!.out) < 1e-4, `float32 prompt logits differ by ${maxDiff(a!.out, o!.out)}`);
  assert.ok(maxDiff(b!.out, o!.out) < 0.05, `bfloat16 prompt logits differ by ${maxDiff(b!.out, o!.out)}`);
  const V = ort.shape.vocab;
  // 20 greedy steps, each decoder on its own tokens; rows 1 and 4 inactive from step 5 on
  let agree = 0;
  let total = 0;
  let outs = runs.map((r) => r.out);
  for (let step = 0; step < 20; step++) {
    const tokens = outs.map((out) => Int32Array.from(rows, (_, r) => argmax(out.subarray(r * V, (r + 1) * V))));
    const active = Uint8Array.from(rows, (_, r) => (step >= 5 && (r === 1 || r === 4) ? 0 : 1));
    assert.deepEqual([...tokens[1]!], [...tokens[0]!], `float32 greedy tokens at step ${step}`);
    tokens[2]!.forEach((t, r) => {
      total++;
      if (t === tokens[0]![r]) agree++;
    });
    outs = await Promise.all([ort, f32, bf16].map((d, k) => d.step(runs[k]!.batch, tokens[k]!, active, 'logits')));
    assert.ok(maxDiff(outs[1]!, outs[0]!) < 1e-4, `float32 step ${step} logits differ by ${maxDiff(outs[1]!, outs[0]!)}`);
  }
  assert.ok(agree / total >= 0.9, `bfloat16 greedy tokens agree with float32 on ${agree} of ${total}`);
  // the caches agree where rows have tokens (float32)
  for (let r = 0; r < rows.length; r++) {
    const x = ort.extract(runs[0]!.batch, r);
    const y = f32.extract(runs[1]!.batch, r);
    assert.equal(y.length, x.length);
    assert.ok(maxDiff(y.data[3] as Float32Array, x.data[3] as Float32Array) < 1e-3);
  }
});

test('OnnxPolicy greedy steps are the same on the native kernels (float32) and ONNX Runtime', async () => {
  const open = (runtime: 'native' | 'onnxruntime') => OnnxPolicy.open({ dir, device: 'cpu', runtime, kvType: 'float32', threads: 1, temperature: 0, maxTokens: 48 });
  const requests = problems.map((p) => ({ problem: { id: p.id, problem: p.problem, answer: p.answer }, steps: [], n: 1 }));
  const got: unknown[] = [];
  for (const runtime of ['native', 'onnxruntime'] as const) {
    const p = await open(runtime);
    try {
      got.push(await p.generate(requests));
    } finally {
      await p.close();
    }
  }
  assert.deepEqual(got[0], got[1]);
});

test('samples with the same tokens so far share a row: the same texts as decoded apart, on fewer rows', async () => {
  // a trained policy at temperature 1 repeats itself: most of n = 8 samples are twins of another
  const requests = problems.map((p) => {
    const steps = p.solution.split('<end_of_step>').slice(0, -1).map((x) => `${x}<end_of_step>`);
    return { problem: { id: p.id, problem: p.problem, answer: p.answer }, steps: steps.slice(0, 1), n: 8 };
  });
  for (const choice of [{ runtime: 'onnxruntime' }, { runtime: 'native', kvType: 'float32' }, { runtime: 'native', kvType: 'bfloat16' }] as const) {
    const run = async (shareSamples: boolean) => {
      // 20 rows: the samples of a request may straddle two batches
      const p = await OnnxPolicy.open({ dir, device: 'cpu', threads: 2, temperature: 1, maxTokens: 64, seed: 4, batchRows: 20, shareSamples, ...choice });
      try {
        return { steps: await p.generate(requests), stats: p.stats() };
      } finally {
        await p.close();
      }
    };
    const apart = await run(false);
    const shared = await run(true);
    assert.deepEqual(shared.steps, apart.steps, `${choice.runtime}: the same samples`);
    const texts = apart.steps as string[][];
    const distinct = texts.reduce((a, t) => a + new Set(t).size, 0);
    // twins, and requests whose samples part somewhere (forks)
    assert.ok(distinct < 40 && texts.filter((t) => new Set(t).size > 1).length >= 2, JSON.stringify(texts));
    assert.ok(shared.stats.decodeRows < apart.stats.decodeRows / 2, `${choice.runtime}: ${shared.stats.decodeRows} rows vs ${apart.stats.decodeRows}`);
    assert.equal(shared.stats.generatedTokens, apart.stats.generatedTokens);
  }
});

test('the reviewer PPM scores the same on the native kernels (float32 to 1e-5, bfloat16 to 0.01) as on ONNX Runtime', async () => {
  // each problem's reference steps so far, as the search scores them: incremental, on the parent's cached prefix
  const requests = problems.flatMap((p) => {
    const steps = p.solution.split('<end_of_step>').slice(0, -1).map((x) => `${x}<end_of_step>`);
    return steps.slice(0, 3).map((_, k) => ({ problem: { id: p.id, problem: p.problem, answer: p.answer }, steps: steps.slice(0, k + 1) }));
  });
  assert.ok(requests.length >= 12);
  const scored: number[][] = [];
  for (const choice of [{ runtime: 'onnxruntime' }, { runtime: 'native', kvType: 'float32' }, { runtime: 'native', kvType: 'bfloat16' }] as const) {
    const ppm = await OnnxPpm.open({ dir: ppmDir, device: 'cpu', threads: 1, ...choice });
    try {
      assert.equal(ppm.decoder.provider, choice.runtime === 'native' ? 'native' : 'cpu');
      scored.push((await ppm.score(requests)) as number[]);
    } finally {
      await ppm.close();
    }
  }
  const worst = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
  assert.ok(worst(scored[1]!, scored[0]!) < 1e-5, `float32: ${worst(scored[1]!, scored[0]!)}`);
  assert.ok(worst(scored[2]!, scored[0]!) < 0.01, `bfloat16: ${worst(scored[2]!, scored[0]!)}`);
});

test('the native kernels refuse what they cannot run, naming the file and why', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'rstar-native-'));
  try {
    const noWeights = join(tmp, 'a');
    cpSync(dir, noWeights, { recursive: true });
    rmSync(join(noWeights, 'model.safetensors'));
    await assert.rejects(Decoder.open(noWeights, { device: 'cpu', runtime: 'native' }), /the native kernels cannot run it: .*model\.safetensors is missing/);
    const auto = await Decoder.open(noWeights, { device: 'cpu' });
    assert.equal(auto.provider, 'cpu');
    assert.match(auto.providerReason, /not the native kernels: .*model\.safetensors is missing/);
    await auto.release();
    const broken = join(tmp, 'b');
    cpSync(dir, broken, { recursive: true });
    writeFileSync(join(broken, 'model.safetensors'), Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 123, 34]));
    await assert.rejects(Decoder.open(broken, { device: 'cpu', runtime: 'native' }), /b\/model\.safetensors is not a usable safetensors file: its header size 8 runs past the end/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
