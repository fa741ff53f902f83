// The ONNX policy and PPM on the CPU provider. Run: npm run bench:onnx [-- --model DIR --ppm DIR]
// (defaults: the random-weight fixtures in test/fixtures/models; a bigger model of the same
// definition: /usr/bin/python3 trainer/make_test_models.py --out /tmp/m --hidden 192
// --layers 4 --heads 6 --kv-heads 2 --head-dim 32 --intermediate 512).
//
// 1. Generation: tokens/s and candidate steps/s for batch 1/8/32 prompts and n = 1/8.
// 2. Prefix reuse: trajectories grown step by step to depth D, each depth one expansion
//    per trajectory; prompt tokens encoded and wall time with the prefix cache vs without.
// 3. PPM: siblings scored along the same trajectories, incremental vs full re-encode.
// With --ppm2 DIR2 (the same weights as --ppm, e.g. the other cache kind), only: incremental
// scoring time of both, depth by depth.
// Each comparison runs both sides in this process on the same prompts and prints a ratio.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OnnxPolicy } from '../src/backends/onnx/policy.js';
import { accepted, type StepRequest } from '../src/engine/backend.js';
import { OnnxPpm } from '../src/backends/onnx/ppm.js';
import { tuneMalloc } from '../src/util/malloc.js';

const fixtures = new URL('../test/fixtures/models/', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(fixtures, 'policy') },
    ppm: { type: 'string', default: join(fixtures, 'ppm-hidden') },
    threads: { type: 'string', default: '2' },
    tokens: { type: 'string', default: '64' },
    trajectories: { type: 'string', default: '16' },
    depth: { type: 'string', default: '8' },
    ppm2: { type: 'string' },
  },
});
const threads = Number(values.threads);
const maxTokens = Number(values.tokens);
const trajectories = Number(values.trajectories);
const maxDepth = Number(values.depth);

const question = (i: number) => ({
  id: `q${i}`,
  problem: `A shop sells ${12 + i} pens a day and ${3 + (i % 5)} boxes of ${6 + (i % 7)} pencils. After ${4 + (i % 3)} days, how many items has it sold in all?`,
  answer: '',
});
/** A step of ~70 characters, as the synthetic domain's steps are. */
const step = (i: number, d: number) => `${d === 0 ? '<code>\n' : ''}# Step ${d + 1}: multiply the daily count\nv${d} = ${12 + i} * ${d + 4}\n<end_of_step>`;

async function generation(): Promise<void> {
  console.log(`\n## Generation (${values.model}, ${threads} threads, ${maxTokens} new tokens at most, temperature 1)`);
  console.log('| prompts | n | rows | steps/s | tokens/s | ms/call |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const prompts of [1, 8, 32]) {
    for (const n of [1, 8]) {
      const policy = await OnnxPolicy.open({ dir: values.model!, device: 'cpu', threads, temperature: 1, maxTokens, seed: 1, cacheBytes: 0 });
      const requests: StepRequest[] = Array.from({ length: prompts }, (_, i) => ({ problem: question(i), steps: [step(i, 0)], n }));
      await policy.generate(requests.slice(0, 1)); // warm-up
      const before = policy.stats();
      const t0 = performance.now();
      const calls = prompts * n >= 64 ? 1 : 3;
      for (let c = 0; c < calls; c++) await policy.generate(requests);
      const s = (performance.now() - t0) / 1000;
      const after = policy.stats();
      const tokens = after.generatedTokens - before.generatedTokens;
      const steps = after.steps - before.steps;
      console.log(`| ${prompts} | ${n} | ${prompts * n} | ${(steps / s).toFixed(1)} | ${(tokens / s).toFixed(0)} | ${((s * 1000) / calls).toFixed(0)} |`);
      await policy.close();
    }
  }
}

async function prefixReuse(): Promise<void> {
  // Twice: prompt encoding alone (1 new token), then whole expansions (decoding dominates
  // those, and it is the same work with and without reuse).
  for (const tokens of [1, maxTokens]) {
    console.log(`\n## Prefix reuse: ${trajectories} trajectories grown to depth ${maxDepth}, one expansion (n = 4, ${tokens} new token${tokens > 1 ? 's' : ''} at most) per trajectory and depth`);
    const open = (cacheBytes: number) => OnnxPolicy.open({ dir: values.model!, device: 'cpu', threads, temperature: 1, maxTokens: tokens, seed: 1, cacheBytes, cacheSteps: false });
    const reuse = await open(1 << 30);
    const full = await open(0);
    await reuse.generate([{ problem: question(0), steps: [], n: 1 }]); // warm-up, both
    await full.generate([{ problem: question(0), steps: [], n: 1 }]);
    console.log('| depth | tokens encoded (reuse) | (no reuse) | ratio | ms (reuse) | ms (no reuse) | ratio |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|');
    let total = { reuse: 0, full: 0, msReuse: 0, msFull: 0 };
    for (let d = 0; d <= maxDepth; d++) {
      const requests: StepRequest[] = Array.from({ length: trajectories }, (_, i) => ({
        problem: question(i),
        steps: Array.from({ length: d }, (_, k) => step(i, k)),
        n: 4,
      }));
      const row = [];
      for (const policy of [reuse, full]) {
        const before = policy.stats().prefix.encodedTokens;
        const t0 = performance.now();
        await policy.generate(requests);
        row.push([policy.stats().prefix.encodedTokens - before, performance.now() - t0] as const);
      }
      const [[tr, mr], [tf, mf]] = row as [[number, number], [number, number]];
      total = { reuse: total.reuse + tr, full: total.full + tf, msReuse: total.msReuse + mr, msFull: total.msFull + mf };
      console.log(`| ${d} | ${tr} | ${tf} | ${(tf / tr).toFixed(2)}x | ${mr.toFixed(0)} | ${mf.toFixed(0)} | ${(mf / mr).toFixed(2)}x |`);
    }
    console.log(`| all | ${total.reuse} | ${total.full} | ${(total.full / total.reuse).toFixed(2)}x | ${total.msReuse.toFixed(0)} | ${total.msFull.toFixed(0)} | ${(total.msFull / total.msReuse).toFixed(2)}x |`);
    await reuse.close();
    await full.close();
  }
}

/** Incremental scoring with two PPM dirs of the same weights (e.g. the two cache kinds), depth by depth, interleaved. */
async function ppmKinds(): Promise<void> {
  const dirs = [values.ppm!, values['ppm2']!];
  console.log(`\n## PPM, incremental scoring: ${dirs[0]} vs ${dirs[1]} (same weights), ${trajectories} trajectories, 4 siblings per depth`);
  const ppms = await Promise.all(dirs.map((dir) => OnnxPpm.open({ dir, device: 'cpu', threads })));
  console.log(`| depth | ms (${ppms[0]!.decoder.kvKind}) | ms (${ppms[1]!.decoder.kvKind}) | ratio | max score diff |`);
  console.log('|---:|---:|---:|---:|---:|');
  const total = [0, 0];
  for (let d = 0; d < maxDepth; d++) {
    const requests = Array.from({ length: trajectories }, (_, i) =>
      [0, 1, 2, 3].map((j) => ({ problem: question(i), steps: [...Array.from({ length: d }, (_, k) => step(i, k)), step(i + j, d)] })),
    ).flat();
    const out = [];
    for (const [k, p] of ppms.entries()) {
      const t0 = performance.now();
      const scores = accepted('ppm', requests, await p.score(requests));
      const ms = performance.now() - t0;
      total[k]! += ms;
      out.push({ ms, scores });
    }
    const [a, b] = out as [(typeof out)[0], (typeof out)[0]];
    const diff = Math.max(...a.scores.map((x, i) => Math.abs(x - b.scores[i]!)));
    console.log(`| ${d + 1} | ${a.ms.toFixed(0)} | ${b.ms.toFixed(0)} | ${(b.ms / a.ms).toFixed(2)}x | ${diff.toExponential(1)} |`);
  }
  console.log(`| all | ${total[0]!.toFixed(0)} | ${total[1]!.toFixed(0)} | ${(total[1]! / total[0]!).toFixed(2)}x | |`);
  for (const p of ppms) await p.close();
}

async function ppm(): Promise<void> {
  console.log(`\n## PPM (${values.ppm}): ${trajectories} trajectories, 4 siblings scored per depth, incremental vs full re-encode`);
  const incremental = await OnnxPpm.open({ dir: values.ppm!, device: 'cpu', threads });
  const naive = await OnnxPpm.open({ dir: values.ppm!, device: 'cpu', threads, incremental: false });
  console.log('| depth | tokens (incremental) | (full) | ratio | ms (incremental) | ms (full) | ratio | max score diff |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  let total = { inc: 0, full: 0, msInc: 0, msFull: 0 };
  for (let d = 0; d < maxDepth; d++) {
    const requests = Array.from({ length: trajectories }, (_, i) =>
      [0, 1, 2, 3].map((j) => ({ problem: question(i), steps: [...Array.from({ length: d }, (_, k) => step(i, k)), step(i + j, d)] })),
    ).flat();
    const out = [];
    for (const p of [incremental, naive]) {
      const before = p.stats().prefix.encodedTokens;
      const t0 = performance.now();
      const scores = accepted('ppm', requests, await p.score(requests));
      out.push({ tokens: p.stats().prefix.encodedTokens - before, ms: performance.now() - t0, scores });
    }
    const [a, b] = out as [(typeof out)[0], (typeof out)[0]];
    const diff = Math.max(...a.scores.map((x, i) => Math.abs(x - b.scores[i]!)));
    total = { inc: total.inc + a.tokens, full: total.full + b.tokens, msInc: total.msInc + a.ms, msFull: total.msFull + b.ms };
    console.log(`| ${d + 1} | ${a.tokens} | ${b.tokens} | ${(b.tokens / a.tokens).toFixed(2)}x | ${a.ms.toFixed(0)} | ${b.ms.toFixed(0)} | ${(b.ms / a.ms).toFixed(2)}x | ${diff.toExponential(1)} |`);
  }
  console.log(`| all | ${total.inc} | ${total.full} | ${(total.full / total.inc).toFixed(2)}x | ${total.msInc.toFixed(0)} | ${total.msFull.toFixed(0)} | ${(total.msFull / total.msInc).toFixed(2)}x | |`);
  await incremental.close();
  await naive.close();
}

// measured as the CLI runs: with glibc's malloc settings (src/util/malloc.ts)
tuneMalloc();
if (values['ppm2'] !== undefined) {
  await ppmKinds();
} else {
  await generation();
  await prefixReuse();
  await ppm();
}
