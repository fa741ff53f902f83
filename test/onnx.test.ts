// The ONNX path against a plain torch forward pass (no KV cache) of the same random-weight
// models: test/fixtures/models, written by trainer/make_test_models.py, whose
// reference.json holds torch's greedy tokens, logits, hidden states and PPM scores.
// Checked here, for both cache kinds (policy: present.* outputs, Optimum's; policy-in-place:
// new_key_values.*, the same weights): KV-cache decoding, ragged batches (1 and 32 rows),
// prefix reuse, compaction, stops, sampling, teacher-forced token log-probs; and the three PPM
// kinds (hidden state + head, score, reviewer), provider fallback and bad model dirs.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Decoder, type KvBatch } from '../src/backends/onnx/decoder.js';
import type { KvKind } from '../src/backends/onnx/runner.js';
import { PrefixCache } from '../src/backends/onnx/prefix-cache.js';
import { argmax, sampleToken, type SamplingOptions } from '../src/backends/onnx/sampler.js';
import { Tokenizer } from '../src/backends/onnx/tokenizer.js';
import { OnnxPolicy, type OnnxPolicyOptions } from '../src/backends/onnx/policy.js';
import { ppmScore, rawScore } from '../src/engine/head.js';
import { OnnxPpm } from '../src/backends/onnx/ppm.js';
import { accepted, type Policy, type Ppm, type ScoreRequest, type StepRequest } from '../src/engine/backend.js';
import { rng } from '../src/util/random.js';
import { stopStrings } from '../src/format/step.js';

const models = new URL('./fixtures/models/', import.meta.url).pathname;

// Requests none of which may be refused: their steps, scores or hidden rows.
const steps = async (p: Policy, rs: StepRequest[]) => accepted('policy', rs, await p.generate(rs));
const scores = async (p: Ppm, rs: ScoreRequest[]) => accepted('ppm', rs, await p.score(rs));
const hiddenRows = async (p: Ppm, rs: ScoreRequest[]) => {
  const { hidden, refused } = await p.hidden!(rs);
  accepted('ppm', rs, refused.map((r) => r ?? 0));
  return hidden;
};
const policyDir = join(models, 'policy');

interface Greedy {
  prompt: string;
  prompt_ids: number[];
  new_ids: number[];
  first_logits: number[];
}
interface PpmCase {
  text: string;
  ids: number[];
  raw: number[];
  last_hidden: number[];
  score_raw: number[];
}
const reference = JSON.parse(readFileSync(join(models, 'reference.json'), 'utf8')) as { greedy: Greedy[]; ppm: PpmCase[] };

/** The same policy weights, exported with each kind of cache output. */
const kindDirs: Record<KvKind, string> = { concat: policyDir, 'in-place': join(models, 'policy-in-place') };
const kinds = Object.keys(kindDirs) as KvKind[];
const decoders = {} as Record<KvKind, Decoder>;
let decoder: Decoder; // the concat one, for tests about something else
let tokenizer: Tokenizer;
before(async () => {
  for (const kind of kinds) decoders[kind] = await Decoder.open(kindDirs[kind], { device: 'cpu', runtime: 'onnxruntime', threads: 1 });
  decoder = decoders.concat;
  tokenizer = Tokenizer.load(join(policyDir, 'tokenizer.json'));
});
after(async () => {
  for (const kind of kinds) await decoders[kind].release();
});

/** A search's scoring requests: three sibling steps at each depth of one trajectory, which grows by the first. */
function siblingRequests(depths: number): ScoreRequest[][] {
  const problem = { id: 'p', problem: 'Tom has 5 apples and buys 7 more. How many now?', answer: '12' };
  const steps: string[] = [];
  const levels: ScoreRequest[][] = [];
  for (let depth = 0; depth < depths; depth++) {
    const siblings = [0, 1, 2].map((j) => `<code>\n# Step ${depth + 1}: option ${j}\nx = ${depth} + ${j}\n<end_of_step>`);
    levels.push(siblings.map((s) => ({ problem, steps: [...steps, s] })));
    steps.push(siblings[0]!);
  }
  return levels;
}

/** Greedy tokens of every row, `steps` of them, decoding the batch with its KV cache. */
async function greedy(decoder: Decoder, batch: KvBatch, out: Float32Array, steps: number): Promise<number[][]> {
  const V = decoder.shape.vocab;
  const rows = batch.rows;
  const gen: number[][] = Array.from({ length: rows }, () => []);
  for (let s = 0; ; s++) {
    const tokens = new Int32Array(rows);
    for (let b = 0; b < rows; b++) gen[b]!.push((tokens[b] = argmax(out.subarray(b * V, (b + 1) * V))));
    if (s === steps - 1) return gen;
    out = await decoder.step(batch, tokens, new Uint8Array(rows).fill(1), 'logits');
  }
}

test('the tokenizer gives the reference ids and decodes back to the text', async () => {
  for (const g of reference.greedy) {
    const ids = await tokenizer.encode(g.prompt);
    assert.deepEqual(ids, g.prompt_ids);
    assert.equal(await tokenizer.decode(ids), g.prompt);
  }
  for (const stop of stopStrings) assert.notEqual(tokenizer.tokenId(stop), undefined, `${stop} is one token`);
});

test('the shapes come from the model: layers from its inputs, heads and sizes from the inputs and config.json', () => {
  const config = JSON.parse(readFileSync(join(policyDir, 'config.json'), 'utf8')) as Record<string, number>;
  assert.deepEqual(decoder.shape, {
    layers: config['num_hidden_layers'],
    kvHeads: config['num_key_value_heads'],
    headDim: config['head_dim'],
    hidden: config['hidden_size'],
    vocab: config['vocab_size'],
  });
  assert.ok(decoder.shape.kvHeads < config['num_attention_heads']!, 'the fixture exercises grouped-query attention');
});

for (const kind of kinds) {
  test(`[${kind}] one prompt: the prompt logits and 24 greedy tokens with the KV cache equal torch without one`, async () => {
    const decoder = decoders[kind];
    const V = decoder.shape.vocab;
    for (const g of reference.greedy) {
      const { batch, out } = await decoder.forward([{ ids: g.prompt_ids }], 'logits');
      let diff = 0;
      for (let v = 0; v < V; v++) diff = Math.max(diff, Math.abs(out[v]! - g.first_logits[v]!));
      assert.ok(diff < 1e-4, `logits differ by ${diff}`);
      assert.deepEqual((await greedy(decoder, batch, out, 24))[0], g.new_ids, JSON.stringify(g.prompt));
    }
  });
}
for (const kind of kinds) {
  test(`[${kind}] without the KV cache (the whole sequence encoded again each token) ORT gives the same tokens`, async () => {
    const decoder = decoders[kind];
    const g = reference.greedy[2]!;
    const ids = [...g.prompt_ids];
    for (let s = 0; s < 24; s++) {
      const { out } = await decoder.forward([{ ids }], 'logits');
      ids.push(argmax(out));
    }
    assert.deepEqual(ids.slice(g.prompt_ids.length), g.new_ids);
  });
}
for (const kind of kinds) {
  test(`[${kind}] ragged batches: all prompts together, and 32 rows, decode as each alone`, async () => {
    const decoder = decoders[kind];
    const all = reference.greedy;
    const one = await decoder.forward(all.map((g) => ({ ids: g.prompt_ids })), 'logits');
    assert.deepEqual(await greedy(decoder, one.batch, one.out, 24), all.map((g) => g.new_ids));
    const rows = Array.from({ length: 32 }, (_, i) => all[i % all.length]!);
    const wide = await decoder.forward(rows.map((g) => ({ ids: g.prompt_ids })), 'logits');
    assert.deepEqual(await greedy(decoder, wide.batch, wide.out, 24), rows.map((g) => g.new_ids));
  });
}
for (const kind of kinds) {
  test(`[${kind}] prefix reuse: a prompt encoded on a cached prefix (ragged, beside uncached rows) decodes the same`, async () => {
    const decoder = decoders[kind];
    const long = reference.greedy.filter((g) => g.prompt_ids.length >= 10);
    const cache = new PrefixCache(1 << 20);
    // cache the first part of each prompt at an odd split
    const heads = long.map((g) => g.prompt_ids.slice(0, Math.floor(g.prompt_ids.length / 3)));
    const first = await decoder.encode(heads.map((ids) => ({ ids })), 'logits', 32, 4096);
    heads.forEach((ids, i) => cache.store(ids, first[i]!.kv));
    const rows = long.map((g) => {
      const hit = cache.lookup(g.prompt_ids);
      return { kv: hit.kv, ids: g.prompt_ids.slice(hit.length) };
    });
    assert.ok(rows.every((r) => r.kv !== undefined));
    rows.push({ kv: undefined, ids: reference.greedy[0]!.prompt_ids }); // an uncached row too
    const { batch, out } = await decoder.forward(rows, 'logits');
    assert.deepEqual(await greedy(decoder, batch, out, 24), [...long.map((g) => g.new_ids), reference.greedy[0]!.new_ids]);
    const s = cache.stats;
    assert.equal(s.hits, long.length);
    assert.equal(s.reusedTokens, heads.reduce((n, h) => n + h.length, 0));
  });
}
for (const kind of kinds) {
  test(`[${kind}] encode splits a prompt longer than the token budget into pieces and keeps the result`, async () => {
    const decoder = decoders[kind];
    const V = decoder.shape.vocab;
    const g = reference.greedy.find((x) => x.prompt_ids.length > 200)!;
    const [whole] = await decoder.encode([{ ids: g.prompt_ids }], 'logits', 32, 4096);
    const [pieces] = await decoder.encode([{ ids: g.prompt_ids }], 'logits', 32, 37);
    assert.equal(pieces!.kv.length, g.prompt_ids.length);
    let diff = 0;
    for (let v = 0; v < V; v++) diff = Math.max(diff, Math.abs(pieces!.out[v]! - whole!.out[v]!));
    assert.ok(diff < 1e-4, `logits differ by ${diff}`);
    // and the pieces' cache decodes as the whole prompt's
    const { batch, out } = await decoder.forward([{ kv: pieces!.kv, ids: [argmax(pieces!.out)] }], 'logits');
    assert.deepEqual([argmax(pieces!.out), ...(await greedy(decoder, batch, out, 23))[0]!], g.new_ids);
  });
}
for (const kind of kinds) {
  test(`[${kind}] extract and compact keep a row decoding where it was`, async () => {
    const decoder = decoders[kind];
    const all = reference.greedy;
    const { batch, out } = await decoder.forward(all.map((g) => ({ ids: g.prompt_ids })), 'logits');
    const first = await greedy(decoder, batch, out, 5); // 5 tokens, 4 of them fed: the 5th is next
    // a row's own cache, taken out of the ragged batch (before compact spends it), continues alone
    const kv = decoder.extract(batch, 3);
    assert.equal(kv.length, all[3]!.prompt_ids.length + 4);
    const alone = await decoder.forward([{ kv, ids: [first[3]![4]!] }], 'logits', 19);
    assert.deepEqual([...first[3]!, ...(await greedy(decoder, alone.batch, alone.out, 19))[0]!], all[3]!.new_ids);
    const keep = [1, 4];
    const small = decoder.compact(batch, keep);
    const last = Int32Array.from(keep, (b) => first[b]![4]!);
    const next = await decoder.step(small, last, new Uint8Array(2).fill(1), 'logits');
    const rest = await greedy(decoder, small, next, 19);
    keep.forEach((b, i) => assert.deepEqual([...first[b]!, ...rest[i]!], all[b]!.new_ids));
  });
  test(`[${kind}] branch: a copied row decodes on as its source does, in grown buffers and in the room they leave`, async () => {
    const decoder = decoders[kind];
    const all = reference.greedy;
    const { batch, out } = await decoder.forward(all.map((g) => ({ ids: g.prompt_ids })), 'logits', 24);
    const first = await greedy(decoder, batch, out, 5);
    const sources = [2, 0, 2];
    const twice = decoder.branch(batch, sources.slice(0, 2));
    assert.ok(twice.rowCapacity > twice.rows, 'the grown buffers leave room for another row');
    const grown = decoder.branch(twice, sources.slice(2));
    assert.equal(grown.rows, all.length + 3);
    const rows = [...all.keys(), ...sources];
    const last = Int32Array.from(rows, (b) => first[b]![4]!);
    const next = await decoder.step(grown, last, new Uint8Array(rows.length).fill(1), 'logits');
    const rest = await greedy(decoder, grown, next, 19);
    rows.forEach((b, i) => assert.deepEqual([...first[b]!, ...rest[i]!], all[b]!.new_ids, `row ${i}, a copy of ${b}`));
  });
}
for (const kind of kinds) {
  test(`[${kind}] the policy: greedy steps stop at their stop token, and n samples per prompt are seeded`, async () => {
    const policyDir = kindDirs[kind];
    const policy = await OnnxPolicy.open({ dir: policyDir, device: 'cpu', threads: 1, temperature: 0, maxTokens: 24 });
    try {
      const g = reference.greedy[2]!;
      const problem = { id: 'p', problem: 'Q?', answer: '' };
      const prefix = [g.prompt.slice('Q?\n\n'.length)];
      const [[text]] = await steps(policy, [{ problem, steps: prefix, n: 1 }]);
      const stopIds = new Set([...stopStrings.map((s) => tokenizer.tokenId(s)!), 3]);
      const end = g.new_ids.findIndex((t) => stopIds.has(t));
      const expected = await tokenizer.decode(end < 0 ? g.new_ids : g.new_ids.slice(0, end + (g.new_ids[end] === 3 ? 0 : 1)));
      assert.equal(text, expected);
      assert.equal(policy.stats().provider, 'cpu');
    } finally {
      await policy.close();
    }
    const sampled = async (seed: number) => {
      const p = await OnnxPolicy.open({ dir: policyDir, device: 'cpu', threads: 1, temperature: 1, topP: 0.9, topK: 20, maxTokens: 16, seed, batchRows: 5 });
      try {
        return await steps(p, [
          { problem: { id: 'a', problem: 'What is 2 + 3?', answer: '' }, steps: [], n: 8 },
          { problem: { id: 'b', problem: 'Tom has 5 apples.', answer: '' }, steps: ['<code>\n# Step 1\nx = 5\n<end_of_step>'], n: 3 },
        ]);
      } finally {
        await p.close();
      }
    };
    const a = await sampled(7);
    assert.deepEqual(a.map((x) => x.length), [8, 3]);
    for (const text of a.flat()) {
      const stopped = stopStrings.some((s) => text.endsWith(s));
      assert.ok(stopped || (await tokenizer.encode(text)).length <= 16, JSON.stringify(text));
    }
    assert.deepEqual(await sampled(7), a, 'the same seed gives the same steps, whatever the batching');
    assert.notDeepEqual(await sampled(8), a);
  });
}
for (const kind of kinds) {
  test(`[${kind}] the policy reuses prefixes: a child expanded after its parent (or from its own generated KV) encodes only what is new`, async () => {
    const policyDir = kindDirs[kind];
    const open = (o: Partial<OnnxPolicyOptions>) => OnnxPolicy.open({ dir: policyDir, device: 'cpu', threads: 1, temperature: 1, maxTokens: 12, seed: 1, ...o });
    const prompts = await open({ cacheSteps: false });
    const fromSteps = await open({ cacheSteps: true });
    const naive = await open({ cacheBytes: 0 });
    try {
      const problem = { id: 'p', problem: 'A shop sells 12 pens a day for 5 days. How many pens?', answer: '' };
      const trajectory: string[] = [];
      for (let depth = 0; depth < 5; depth++) {
        const request = [{ problem, steps: trajectory, n: 4 }];
        const [a] = await steps(prompts, request);
        const [b] = await steps(fromSteps, request);
        const [c] = await steps(naive, request);
        assert.deepEqual(a, c, `depth ${depth}: the same samples with and without reuse`);
        assert.deepEqual(b, c, `depth ${depth}: the same samples from a generated step's KV`);
        trajectory.push(c![0]!); // go on below a generated step, as a search does
      }
      const full = naive.stats().prefix;
      for (const p of [prompts, fromSteps]) {
        const s = p.stats().prefix;
        assert.equal(s.hits, 4);
        assert.equal(s.encodedTokens + s.reusedTokens, full.encodedTokens);
      }
      const viaPrompts = prompts.stats().prefix.encodedTokens;
      const viaSteps = fromSteps.stats().prefix.encodedTokens;
      assert.ok(full.encodedTokens / viaPrompts > 2, `${full.encodedTokens} vs ${viaPrompts} tokens encoded`);
      assert.ok(viaSteps < viaPrompts, `a generated step's own KV saves more: ${viaSteps} vs ${viaPrompts}`);
    } finally {
      for (const p of [prompts, fromSteps, naive]) await p.close();
    }
  });
}
test('the cache kind comes from the outputs; both kinds give the same seeded steps, PPM scores and growing caches', async () => {
  assert.equal(decoders.concat.kvKind, 'concat');
  assert.equal(decoders['in-place'].kvKind, 'in-place');
  const problem = { id: 'a', problem: 'What is 2 + 3?', answer: '' };
  const sampled = async (kind: KvKind) => {
    const p = await OnnxPolicy.open({ dir: kindDirs[kind], device: 'cpu', threads: 1, temperature: 1, maxTokens: 20, seed: 3, batchRows: 6 });
    try {
      return await steps(p, [
        { problem, steps: [], n: 8 },
        { problem, steps: ['<code>\n# Step 1\nx = 5\n<end_of_step>'], n: 5 },
      ]);
    } finally {
      await p.close();
    }
  };
  assert.deepEqual(await sampled('in-place'), await sampled('concat'));
  const ppm = async (dir: string) => {
    const p = await OnnxPpm.open({ dir: join(models, dir), device: 'cpu', threads: 1 });
    try {
      return (await Promise.all(siblingRequests(4).map((rs) => scores(p, rs)))).flat();
    } finally {
      await p.close();
    }
  };
  const [a, b] = [await ppm('ppm-score'), await ppm('ppm-score-in-place')];
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) < 1e-5, `${x} vs ${b[i]}`));
  // an in-place batch asked for no room grows when a step needs it, and keeps its rows
  const d = decoders['in-place'];
  const g = reference.greedy[1]!;
  const { batch, out } = await d.forward([{ ids: g.prompt_ids }, { ids: reference.greedy[0]!.prompt_ids }], 'logits', 0);
  assert.equal(batch.capacity, batch.length);
  assert.deepEqual((await greedy(d, batch, out, 24))[0], g.new_ids);
  assert.equal(batch.length, g.prompt_ids.length + 23);
  assert.ok(batch.capacity >= batch.length);
});

test('the PPM: hidden-state export with the native head, score export, both equal torch; incremental equals naive', async () => {
  const hidden = await OnnxPpm.open({ dir: join(models, 'ppm-hidden'), device: 'cpu', threads: 1, template: '{problem}' });
  const score = await OnnxPpm.open({ dir: join(models, 'ppm-score'), device: 'cpu', threads: 1, template: '{problem}' });
  try {
    assert.equal(hidden.output, 'last_hidden_state');
    assert.ok(hidden.head);
    assert.equal(score.output, 'score');
    assert.equal(score.head, undefined);
    const requests = reference.ppm.map((c) => ({ problem: { id: 'p', problem: c.text, answer: '' }, steps: [] }));
    const rows = await hiddenRows(hidden, requests);
    const H = hidden.decoder.shape.hidden;
    reference.ppm.forEach((c, i) => {
      for (let k = 0; k < H; k++) assert.ok(Math.abs(rows[i * H + k]! - c.last_hidden[k]!) < 1e-4);
    });
    const fromHead = await scores(hidden, requests);
    const fromScore = await scores(score, requests);
    reference.ppm.forEach((c, i) => {
      const torch = Math.tanh(c.raw[c.raw.length - 1]! / 5);
      assert.ok(Math.abs(fromHead[i]! - torch) < 1e-5, `${fromHead[i]} vs ${torch}`);
      assert.ok(Math.abs(fromScore[i]! - rawScore(c.score_raw[c.score_raw.length - 1]!)) < 1e-5);
      assert.equal(fromHead[i], ppmScore(rows, i * H, hidden.head!));
    });
  } finally {
    await hidden.close();
    await score.close();
  }

  // a trajectory scored step by step: on the parent's cache, or the whole prefix each time
  const incremental = await OnnxPpm.open({ dir: join(models, 'ppm-score'), device: 'cpu', threads: 1 });
  const naive = await OnnxPpm.open({ dir: join(models, 'ppm-score'), device: 'cpu', threads: 1, incremental: false });
  try {
    for (const [depth, requests] of siblingRequests(6).entries()) {
      const a = await scores(incremental, requests);
      const b = await scores(naive, requests);
      a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) < 1e-5, `depth ${depth}: ${x} vs ${b[i]}`));
    }
    const inc = incremental.stats().prefix;
    const full = naive.stats().prefix;
    assert.equal(inc.encodedTokens + inc.reusedTokens, full.encodedTokens);
    assert.ok(full.encodedTokens / inc.encodedTokens > 3, `${full.encodedTokens} vs ${inc.encodedTokens} tokens encoded`);
  } finally {
    await incremental.close();
    await naive.close();
  }
});

for (const kind of kinds) {
  test(`[${kind}] token log-probs: torch's at the prompt's end, each prefix's last-position logits, in a ragged batch on a cache or one row a run`, async () => {
    const decoder = decoders[kind];
    const logSoftmax = (logits: ArrayLike<number>, id: number) => {
      const max = Math.max(...Array.from(logits));
      let sum = 0;
      for (let v = 0; v < logits.length; v++) sum += Math.exp(logits[v]! - max);
      return logits[id]! - max - Math.log(sum);
    };
    const seqs = reference.greedy.map((c) => [...c.prompt_ids, ...c.new_ids]);
    // rows of different lengths, the second on a cached prefix of 5 tokens
    const { kv } = (await decoder.encode([{ ids: seqs[1]!.slice(0, 5) }], 'logits', 1, 4096))[0]!;
    const rows = [{ ids: seqs[0]! }, { kv, ids: seqs[1]!.slice(5) }, { ids: seqs[0]!.slice(0, 9) }];
    const lps = await decoder.tokenLogprobs(rows, 2, 4096);
    assert.deepEqual(lps.map((x) => x.length), rows.map((r) => r.ids.length - 1));
    // one row a run (a token budget below every row): the same values
    const alone = await decoder.tokenLogprobs(rows, 32, 1);
    alone.forEach((x, i) => x.forEach((v, t) => assert.ok(Math.abs(v - lps[i]![t]!) < 1e-5, `row ${i}, token ${t}`)));
    reference.greedy.slice(0, 2).forEach((c, i) => {
      const at = c.prompt_ids.length - (i === 1 ? 5 : 0); // the first new id, predicted by the prompt's end
      assert.ok(Math.abs(lps[i]![at - 1]! - logSoftmax(c.first_logits, c.new_ids[0]!)) < 1e-4, `row ${i}`);
    });
    for (const t of [1, 4, 8]) {
      const { out } = await decoder.forward([{ ids: seqs[0]!.slice(0, t) }], 'logits');
      assert.ok(Math.abs(lps[0]![t - 1]! - logSoftmax(out, seqs[0]![t]!)) < 1e-4, `position ${t}`);
      assert.ok(Math.abs(lps[2]![t - 1]! - lps[0]![t - 1]!) < 1e-5, 'padding changes nothing');
    }
  });
}
test('a reviewer PPM: 2p - 1 of the question\'s mean token probability after the trajectory; incremental equals naive', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rstar-reviewer-'));
  cpSync(policyDir, dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(policyDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, rstar_ppm: { output: 'reviewer' } }));
  const incremental = await OnnxPpm.open({ dir, device: 'cpu', threads: 1 });
  const naive = await OnnxPpm.open({ dir, device: 'cpu', threads: 1, incremental: false });
  try {
    assert.equal(incremental.output, 'logits');
    assert.equal(incremental.head, undefined);
    await assert.rejects(incremental.hidden([]), /outputs scores, not hidden states/);
    for (const [depth, requests] of siblingRequests(4).entries()) {
      const a = await scores(incremental, requests);
      const b = await scores(naive, requests);
      for (const [i, r] of requests.entries()) {
        // the whole text in one run: the prompt is the trajectory in the plain template
        const prompt = await tokenizer.encode(r.steps.join('') + '\n\n');
        const question = await tokenizer.encode(r.problem.problem);
        const lp = (await decoder.tokenLogprobs([{ ids: [...prompt, ...question] }], 1, 4096))[0]!.subarray(prompt.length - 1);
        const want = 2 * Math.exp(lp.reduce((x, y) => x + y, 0) / lp.length) - 1;
        assert.ok(Math.abs(a[i]! - want) < 1e-5 && Math.abs(b[i]! - want) < 1e-5, `depth ${depth}: ${a[i]}, ${b[i]} vs ${want}`);
      }
    }
    const inc = incremental.stats().prefix;
    assert.ok(inc.reusedTokens > inc.encodedTokens, `children reuse the trajectory's cache: ${JSON.stringify(inc)}`);
    assert.equal(naive.stats().prefix.reusedTokens, 0);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, rstar_ppm: { output: 'review' } }));
    await assert.rejects(OnnxPpm.open({ dir, device: 'cpu' }), /rstar_ppm\.output must be "hidden", "score" or "reviewer" \(got "review"\)/);
  } finally {
    await incremental.close();
    await naive.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sampling: greedy at temperature 0, top-k 1 is greedy, top-p keeps the nucleus only', () => {
  const logits = Float32Array.of(1, 3, 2, 3, -1);
  assert.equal(sampleToken(logits, { temperature: 0, topP: 1, topK: 0 }, rng(1)), 1, 'ties go to the lowest id');
  const random = rng(3);
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) seen.add(sampleToken(logits, { temperature: 1, topP: 1, topK: 1 }, random));
  assert.deepEqual([...seen], [1]);
  seen.clear();
  // the two tokens at logit 3 hold 79% of the mass: top-p 0.6 keeps just them
  for (let i = 0; i < 400; i++) seen.add(sampleToken(logits, { temperature: 1, topP: 0.6, topK: 0 }, random));
  assert.deepEqual([...seen].sort(), [1, 3]);
  seen.clear();
  for (let i = 0; i < 2000; i++) seen.add(sampleToken(logits, { temperature: 1, topP: 1, topK: 0 }, random));
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
});

test('sampling picks what sorting every candidate would: the same token for the same random draw, or the same distribution', () => {
  // the plain definition: sort all candidates, cut to top-k, then to the nucleus, draw along the order
  const reference = (logits: Float32Array, o: SamplingOptions, u: number) => {
    const ids = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]! || a - b);
    const kept = o.topK > 0 ? ids.slice(0, o.topK) : ids;
    const p = kept.map((i) => Math.exp((logits[i]! - logits[ids[0]!]!) / o.temperature));
    const total = p.reduce((x, y) => x + y, 0);
    let n = 0;
    for (let mass = 0; n < p.length && !(mass >= o.topP * total); n++) mass += p[n]!;
    let r = u * p.slice(0, n).reduce((x, y) => x + y, 0);
    for (let j = 0; j < n; j++) if ((r -= p[j]!) < 0) return kept[j]!;
    return kept[n - 1]!;
  };
  const random = rng(5);
  const counts = new Map<string, [number, number]>();
  for (let trial = 0; trial < 3000; trial++) {
    const V = 2 + Math.floor(random() * 60);
    // peaked or flat, with ties
    const spread = random() < 0.5 ? 12 : 1;
    const logits = Float32Array.from({ length: V }, () => Math.round(random() * spread * 8) / 8);
    const o = { temperature: [0.5, 1, 1.3][trial % 3]!, topP: [1, 0.95, 0.6][Math.floor(trial / 3) % 3]!, topK: [0, 1, 5, 40][Math.floor(trial / 9) % 4]! };
    const u = random();
    const got = sampleToken(logits, o, () => u);
    if (o.topP < 1 || (o.topK > 0 && o.topK < V)) {
      assert.equal(got, reference(logits, o, u), `${JSON.stringify(o)} ${Array.from(logits)} u=${u}`);
    } else {
      assert.ok(got >= 0 && got < V);
    }
  }
  // all candidates kept: drawn in id order, with the reference's probabilities
  const logits = Float32Array.of(0.5, 2, -1, 2, 1);
  const o = { temperature: 1, topP: 1, topK: 0 };
  const draws = 20000;
  for (let i = 0; i < draws; i++) {
    const t = sampleToken(logits, o, random);
    const c = counts.get(String(t)) ?? [0, 0];
    counts.set(String(t), [c[0] + 1, 0]);
  }
  const z = Array.from(logits).reduce((x, l) => x + Math.exp(l), 0);
  logits.forEach((l, t) => {
    const share = (counts.get(String(t))?.[0] ?? 0) / draws;
    assert.ok(Math.abs(share - Math.exp(l) / z) < 0.015, `token ${t}: ${share} vs ${Math.exp(l) / z}`);
  });
});

test('providers: cuda asked for on a machine without the CUDA provider falls back to the CPU, saying why', async (t) => {
  const d = await Decoder.open(policyDir, { device: 'cuda', threads: 1 });
  try {
    if (d.provider === 'cuda') return t.skip('the CUDA provider loads here');
    assert.equal(d.provider, 'cpu');
    assert.match(d.providerReason, /^cuda asked for: the CUDA provider did not load \(.+\); using the CPU provider$/);
  } finally {
    await d.release();
  }
  const c = await Decoder.open(policyDir, { device: 'cpu', runtime: 'onnxruntime', threads: 1 });
  assert.equal(c.providerReason, 'asked for');
  await c.release();
});

test('bad model dirs are refused with the file and what is wrong', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rstar-model-'));
  try {
    await assert.rejects(OnnxPolicy.open({ dir }), /tokenizer: .*tokenizer\.json does not exist/);
    cpSync(join(models, 'ppm-hidden'), dir, { recursive: true });
    await assert.rejects(OnnxPolicy.open({ dir, device: 'cpu' }), /has no "logits" output \(is it a PPM\?\)/);
    writeFileSync(join(dir, 'ppm_head.json'), JSON.stringify({ weight: [1, 2], bias: 0 }));
    await assert.rejects(OnnxPpm.open({ dir, device: 'cpu' }), /ppm_head\.json: "weight" must be 32 finite numbers/);
    writeFileSync(join(dir, 'config.json'), '{"vocab_size": 108,');
    await assert.rejects(OnnxPpm.open({ dir, device: 'cpu' }), /config\.json is not valid JSON/);
    rmSync(join(dir, 'model.onnx'));
    writeFileSync(join(dir, 'config.json'), '{}');
    await assert.rejects(OnnxPpm.open({ dir, device: 'cpu' }), /cannot load .*model\.onnx/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('on a worker thread: the same steps, scores and hidden states as in-process, and open errors surface', async () => {
  const { ThreadedOnnxPolicy, ThreadedOnnxPpm } = await import('../src/backends/onnx/threaded.js');
  const options = { dir: policyDir, device: 'cpu' as const, threads: 1, temperature: 1, maxTokens: 16, seed: 5 };
  const requests = [{ problem: { id: 'a', problem: 'What is 2 + 3?', answer: '' }, steps: [], n: 3 }];
  const local = await OnnxPolicy.open(options);
  const threaded = await ThreadedOnnxPolicy.open(options);
  try {
    assert.deepEqual(await steps(threaded, requests), await steps(local, requests));
    assert.equal(threaded.provider, 'cpu');
    assert.equal((await threaded.stats()).steps, 3);
  } finally {
    await local.close();
    await threaded.close();
  }
  const ppmOptions = { dir: join(models, 'ppm-hidden'), device: 'cpu' as const, threads: 1 };
  const ppm = await OnnxPpm.open(ppmOptions);
  const ppmThread = await ThreadedOnnxPpm.open(ppmOptions);
  try {
    const score = [{ problem: { id: 'a', problem: 'What is 2 + 3?', answer: '' }, steps: ['<code>\nx = 5\n<end_of_step>'] }];
    assert.deepEqual(await ppmThread.hidden(score), await ppm.hidden(score));
    assert.deepEqual(await ppmThread.score(score), await ppm.score(score));
    assert.deepEqual(ppmThread.head, ppm.head);
  } finally {
    await ppm.close();
    await ppmThread.close();
  }
  await assert.rejects(ThreadedOnnxPolicy.open({ dir: join(models, 'nowhere') }), /tokenizer: .*nowhere\/tokenizer\.json does not exist/);
});
