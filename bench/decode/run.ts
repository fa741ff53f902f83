// Decoding speed of the engine's own policy (OnnxPolicy, onnxruntime-node) against the
// project's torch sampler (bench/decode/torch_sampler.py: trainer/rollout_pairs.py's
// preallocated cache) on the same model, prompts and sampling settings, in one invocation.
//
//   npm run bench:decode [-- --model DIR [--model DIR2 ...] --threads 2 --tokens 96
//                           --runtime onnxruntime,native:bfloat16,native:float32
//                           --rows 1x1,4x8,16x8 --torch bf16,fp32 --repeat 3]
//
// Workloads: rows = prompts x n samples (1 x 1, 4 x 8, 16 x 8), each at two cache lengths
// (a synthetic level-6 problem, about 240 tokens; and with its reference solution's steps
// so far, about 430, as a search's deep nodes are). Each side samples at temperature 1,
// top-p 0.95, until every row has a stop token or --tokens tokens, and counts each row's
// tokens up to its stop. What is timed is decoding on a cached prompt, as in a search, where a node's
// prompt is its parent's plus one step: the engine's prefix cache holds the prompt (a
// warm-up call put it there; the timed call encodes one more token), and the torch sampler's
// clock starts after its prompt forward. So tokens/s covers decode steps, sampling, stop
// checks and (engine) detokenizing. Each side runs --repeat times; the fastest counts.
// Each --model is a model dir of the same weights (the first also gives pytorch_model.bin
// to torch), e.g. the shipped in-place export and a concat export of it, to compare kinds.
// Each runs on each --runtime: ONNX Runtime, or the engine's own kernels with a bfloat16 or
// float32 cache (a dir without model.safetensors runs on ONNX Runtime only).
// The engine decodes a row per sample here, as the torch sampler does (shareSamples off):
// this compares decoding, not the twins a search's samples share (npm run bench:share).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { eosIds, OnnxPolicy } from '../../src/backends/onnx/policy.js';
import type { StepRequest } from '../../src/engine/backend.js';
import { generateProblems } from '../../src/data/synthetic.js';
import { promptSegments } from '../../src/format/prompt.js';
import { stopStrings } from '../../src/format/step.js';
import { tuneMalloc } from '../../src/util/malloc.js';

const root = new URL('../../', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    model: { type: 'string', multiple: true, default: [join(root, 'models/policy')] },
    threads: { type: 'string', default: '2' },
    tokens: { type: 'string', default: '96' },
    python: { type: 'string', default: process.env['RSTAR_TRAIN_PYTHON'] ?? '/usr/bin/python3' },
    torch: { type: 'string', default: 'bf16,fp32', help: 'torch dtypes to run ("" for none)' },
    rows: { type: 'string', default: '1x1,4x8,16x8', help: 'prompts x n' },
    repeat: { type: 'string', default: '3' },
    runtime: { type: 'string', default: 'onnxruntime,native:bfloat16,native:float32' },
  },
});
const threads = Number(values.threads);
const maxTokens = Number(values.tokens);
const runtimes = values.runtime!.split(',').map((r) => {
  const [runtime, kvType] = r.split(':');
  if (!(runtime === 'onnxruntime' || (runtime === 'native' && (kvType === 'bfloat16' || kvType === 'float32')))) throw new Error(`bench: --runtime ${r}: onnxruntime, native:bfloat16 or native:float32`);
  return { runtime, kvType: (kvType ?? 'float32') as 'bfloat16' | 'float32' };
});
// each engine: a model dir on a runtime
const models = values.model!.flatMap((dir) => runtimes.filter((r) => r.runtime === 'onnxruntime' || existsSync(join(dir, 'model.safetensors'))).map((r) => ({ dir, ...r })));
const dtypes = values.torch!.split(',').filter(Boolean);
const shapes = values.rows!.split(',').map((s) => s.split('x').map(Number) as [number, number]);
const repeat = Number(values.repeat);
const sampling = { temperature: 1, topP: 0.95, seed: 1 };
tuneMalloc();

const problems = generateProblems({ levels: [6], count: 16, seed: 11, split: 'train' });
/**
 * Prompts of a problem and, for `long`, its solution's steps up to about 500 tokens (whole
 * steps, so each sample writes a whole next step, as in a search).
 */
function requests(count: number, n: number, long: boolean): StepRequest[] {
  return problems.slice(0, count).map((p) => {
    let solution = '';
    if (long) {
      const room = 500 - p.problem.length - 2; // the shipped tokenizer: one token a character
      const end = p.solution.lastIndexOf('<end_of_step>', room - '<end_of_step>'.length);
      solution = end < 0 ? '' : p.solution.slice(0, end + '<end_of_step>'.length);
    }
    return { problem: { id: p.id, problem: p.problem, answer: p.answer }, steps: solution ? [solution] : [], n };
  });
}

interface Measured {
  tokens: number;
  seconds: number;
}

async function engine(m: (typeof models)[number], rs: StepRequest[]): Promise<Measured & { cacheKind: string }> {
  const rows = rs.reduce((k, r) => k + r.n, 0);
  const policy = await OnnxPolicy.open({ dir: m.dir, device: 'cpu', runtime: m.runtime as 'onnxruntime' | 'native', kvType: m.kvType, threads, maxTokens, cacheSteps: false, shareSamples: false, batchRows: rows, ...sampling });
  // the timed prompts are these plus one token: a newline piece after the prompt
  const timed = rs.map((r) => ({ ...r, steps: [...r.steps, '\n'] }));
  try {
    await policy.generate(rs); // warm-up, and the prompts' KV into the prefix cache
    let best: Measured = { tokens: 0, seconds: Infinity };
    for (let i = 0; i < repeat; i++) {
      const before = policy.stats();
      const t0 = performance.now();
      await policy.generate(timed);
      const seconds = (performance.now() - t0) / 1000;
      const after = policy.stats();
      if (after.prefix.encodedTokens - before.prefix.encodedTokens > rs.length) throw new Error('bench: the prompts were not cached');
      const tokens = after.generatedTokens - before.generatedTokens;
      if (tokens / seconds > best.tokens / best.seconds) best = { tokens, seconds };
    }
    return { ...best, cacheKind: `${policy.decoder.provider === 'native' ? 'native kernels' : 'onnxruntime'}, ${policy.decoder.kvKind} ${policy.decoder.kvType} cache` };
  } finally {
    await policy.close();
  }
}

async function torch(rs: StepRequest[], prompts: number[][], stopIds: number[]): Promise<Map<string, Measured>> {
  const job = { model: models[0]!.dir, prompts, n: rs[0]!.n, max_tokens: maxTokens, temperature: 1, top_p: 0.95, stop_ids: stopIds, threads, dtypes, seed: 1, repeat };
  const child = spawn(values.python!, [join(root, 'bench/decode/torch_sampler.py')], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
  child.stdin.end(JSON.stringify(job));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`torch sampler: exit status ${code}`);
  const result = new Map<string, Measured>();
  for (const line of out.trim().split('\n')) {
    const r = JSON.parse(line) as { dtype: string } & Measured;
    result.set(r.dtype, r);
  }
  return result;
}

const rate = (m: Measured | undefined) => (m ? m.tokens / m.seconds : NaN);
const fmt = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(0));
const ratio = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? '-' : `${(a / b).toFixed(2)}x`);

// the first model's tokenizer and template give the torch side its prompt ids and stop ids
const probe = await OnnxPolicy.open({ dir: models[0]!.dir, device: 'cpu', runtime: 'onnxruntime', threads: 1 });
const stopIds = [...stopStrings.map((s) => probe.tokenizer.tokenId(s)).filter((x): x is number => x !== undefined), ...eosIds(probe.decoder.config)];
const torchOk = dtypes.length > 0 && existsSync(join(models[0]!.dir, 'pytorch_model.bin'));
if (dtypes.length > 0 && !torchOk) console.log(`(no torch side: ${models[0]!.dir} has no pytorch_model.bin)`);

console.log(`\n## Decoding: engine (OnnxPolicy, ${threads} threads) vs torch sampler; up to ${maxTokens} tokens a row, temperature 1, top-p 0.95`);
const head = ['rows (prompts x n)', 'prompt tokens', ...models.map((_, i) => `engine ${i + 1} tok/s`), ...(torchOk ? dtypes.map((d) => `torch ${d} tok/s`) : [])];
const ratios = torchOk ? models.flatMap((_, i) => dtypes.map((d) => `engine ${i + 1} / torch ${d}`)) : [];
const extra = models.length > 1 ? models.slice(1).map((_, i) => `engine 1 / engine ${i + 2}`) : [];
console.log(`| ${[...head, ...ratios, ...extra].join(' | ')} |`);
console.log(`|${[...head, ...ratios, ...extra].map((_, i) => (i < 1 ? '---' : '---:')).join('|')}|`);
const kinds: string[] = [];
for (const [count, n] of shapes) {
  for (const long of [false, true]) {
    const rs = requests(count, n, long);
    const prompts = await Promise.all(rs.map(async (r) => (await probe.tokenizer.encodeWithin(promptSegments(probe.template, r.problem, r.steps), 1e9) as { pieces: number[][] }).pieces.flat()));
    const meanPrompt = prompts.reduce((k, p) => k + p.length, 0) / prompts.length;
    const ours: number[] = [];
    for (const m of models) {
      const r = await engine(m, rs);
      ours.push(rate(r));
      kinds.push(`engine ${models.indexOf(m) + 1}: ${m.dir} (${r.cacheKind})`);
    }
    const theirs = torchOk ? await torch(rs, prompts, stopIds) : new Map<string, Measured>();
    const cells = [`${count} x ${n} = ${count * n}`, meanPrompt.toFixed(0), ...ours.map(fmt), ...(torchOk ? dtypes.map((d) => fmt(rate(theirs.get(d)))) : [])];
    const rs1 = torchOk ? ours.flatMap((o) => dtypes.map((d) => ratio(o, rate(theirs.get(d))))) : [];
    const rs2 = ours.slice(1).map((o) => ratio(ours[0]!, o));
    console.log(`| ${[...cells, ...rs1, ...rs2].join(' | ')} |`);
  }
}
await probe.close();
console.log('');
for (const k of [...new Set(kinds)]) console.log(k);
