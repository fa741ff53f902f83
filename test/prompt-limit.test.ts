// Prompts longer than the model's context (issue 15): one 5 MB problem once ran the ONNX
// policy past 120 s at 13.7 GB. Such a prompt is refused for its problem, whose tree is
// written with `error: "prompt too long: N tokens > M"`, and the other problems go on. A
// text far over the limit is refused from its length alone, without tokenizing it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ExportedTree } from '../src/engine/export.js';
import type { SearchOptions } from '../src/engine/options.js';
import { Search } from '../src/engine/search.js';
import type { Problem } from '../src/io/problems.js';
import { charsPerToken, Tokenizer } from '../src/backends/onnx/tokenizer.js';
import { OnnxPolicy } from '../src/backends/onnx/policy.js';
import type { Policy, Ppm, Refused, ScoreRequest, StepRequest } from '../src/engine/backend.js';
import { defaultPromptTemplate } from '../src/format/prompt.js';
import { SimPolicy } from '../src/sim/policy.js';
import { OnnxPpm } from '../src/backends/onnx/ppm.js';
import { SimPpm } from '../src/sim/ppm.js';
import { ExactGrader } from '../src/grade/exact-grader.js';
import { SimVerifier } from '../src/sim/verifier.js';
import { pythonSkip } from './python-skip.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const models = join(repoRoot, 'test', 'fixtures', 'models');
const policyDir = join(models, 'policy'); // max_position_embeddings 4096
const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'rstar-prompt-limit-'));
after(() => rmSync(root, { recursive: true, force: true }));

const huge: Problem = { id: 'huge', problem: 'Tom has 5 apples. '.repeat(12_000), answer: '5' }; // 216k characters
const small = (id: string): Problem => ({ id, problem: `Tom has ${id.length} apples and buys 7 more. How many now?`, answer: '12' });
const fast = { device: 'cpu' as const, threads: 1, maxTokens: 8, seed: 1 };

test('charsPerToken: the longest entry, more behind a composing normalizer, no bound where text may vanish', () => {
  assert.equal(Tokenizer.load(join(policyDir, 'tokenizer.json')).charsPerToken, 15); // '<end_of_answer>'
  const bpe = { model: { type: 'BPE', vocab: { a: 0, abcd: 1 } }, added_tokens: [{ content: '<eos>' }] };
  assert.equal(charsPerToken(bpe), 5);
  assert.equal(charsPerToken({ ...bpe, normalizer: { type: 'NFC' }, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', behavior: 'Isolated' }, { type: 'ByteLevel' }] } }), 20);
  assert.equal(charsPerToken({ ...bpe, model: { type: 'Unigram', vocab: [['abc', -1]], byte_fallback: true } }), 5);
  for (const lossy of [
    { ...bpe, pre_tokenizer: { type: 'Whitespace' } },
    { ...bpe, normalizer: { type: 'Replace' } },
    { ...bpe, model: { ...bpe.model, fuse_unk: true } },
    { ...bpe, added_tokens: [{ content: '<mask>', lstrip: true }] },
    { ...bpe, model: { type: 'WordLevel', vocab: { a: 0 } } },
  ]) {
    assert.equal(charsPerToken(lossy), Infinity, JSON.stringify(lossy));
  }
});

test('the ONNX policy refuses a prompt past its context for that request only, without tokenizing it', async () => {
  const policy = await OnnxPolicy.open({ dir: policyDir, ...fast });
  try {
    assert.equal(policy.promptLimit, 4095, 'the context (4096) less one position for the step');
    const started = performance.now();
    const out = await policy.generate([
      { problem: small('a'), steps: [], n: 2 },
      { problem: huge, steps: [], n: 2 },
    ]);
    assert.ok(performance.now() - started < 5000, 'a refused prompt costs no tokenizing or encoding');
    assert.equal((out[0] as string[]).length, 2);
    assert.match((out[1] as Refused).refused, /^prompt too long: at least \d+ tokens > 4095$/);
  } finally {
    await policy.close();
  }
});

test('--max-prompt-tokens lowers the limit; the count is exact once the text is tokenized', async () => {
  const policy = await OnnxPolicy.open({ dir: policyDir, ...fast, maxPromptTokens: 20 });
  try {
    const tokenizer = Tokenizer.load(join(policyDir, 'tokenizer.json'));
    const problem = small('b');
    const tokens = (await tokenizer.encode(defaultPromptTemplate.replace('{problem}', problem.problem))).length;
    assert.ok(tokens > 20 && problem.problem.length < 20 * 15, 'over the limit, but not by length alone');
    const [out] = await policy.generate([{ problem, steps: [], n: 1 }]);
    assert.deepEqual(out, { refused: `prompt too long: ${tokens} tokens > 20` });
  } finally {
    await policy.close();
  }
});

test('a step stops where the context ends, so prompt and step always fit', async () => {
  const tokenizer = Tokenizer.load(join(policyDir, 'tokenizer.json'));
  const problem = small('c');
  const tokens = (await tokenizer.encode(defaultPromptTemplate.replace('{problem}', problem.problem))).length;
  // a context 3 positions past the prompt; temperature 1 on random weights rarely stops early
  const policy = await OnnxPolicy.open({ dir: policyDir, ...fast, maxTokens: 64, temperature: 1, context: tokens + 3 });
  try {
    const [steps] = (await policy.generate([{ problem, steps: [], n: 4 }])) as string[][];
    for (const s of steps!) assert.ok((await tokenizer.encode(s)).length <= 3, JSON.stringify(s));
    assert.ok(policy.stats().generatedTokens <= 4 * 3);
  } finally {
    await policy.close();
  }
});

test('the ONNX PPM refuses a request past its context, saying why, quickly', async () => {
  const ppm = await OnnxPpm.open({ dir: join(models, 'ppm-score'), device: 'cpu', threads: 1 });
  try {
    const started = performance.now();
    const [out] = await ppm.score([{ problem: huge, steps: ['<code>\nx = 1\n<end_of_step>'] }]);
    assert.match((out as Refused).refused, /^prompt too long: at least \d+ tokens > 4096$/);
    assert.ok(performance.now() - started < 5000);
  } finally {
    await ppm.close();
  }
});

test('the shipped reviewer PPM refuses a request past its context and scores the others', async () => {
  const ppm = await OnnxPpm.open({ dir: join(repoRoot, 'models', 'ppm'), device: 'cpu', threads: 1 });
  try {
    const step = '<code>\nx = 5 + 7\n<end_of_step>';
    const [a, b] = await ppm.score([{ problem: huge, steps: [step] }, { problem: small('d'), steps: [step] }]);
    assert.match((a as Refused).refused, /^prompt too long: at least \d+ tokens > 2048$/);
    assert.ok(typeof b === 'number' && b >= -1 && b <= 1);
    assert.deepEqual(await ppm.score([{ problem: small('d'), steps: [step] }]), [b]);
  } finally {
    await ppm.close();
  }
});

async function* stream(items: Problem[]): AsyncGenerator<Problem> {
  yield* items;
}

async function search(policy: Policy, problems: Problem[], options: Partial<SearchOptions>, ppm?: Ppm): Promise<Map<string, ExportedTree>> {
  const trees = new Map<string, ExportedTree>();
  const backends = { policy, ...(ppm ? { ppm } : {}), verifier: new SimVerifier(), grader: new ExactGrader() };
  const s = new Search({ rollouts: 4, n: 3, maxDepth: 4, concurrency: 2, rolloutsInFlight: 3, ...options }, backends, ({ tree }) => {
    trees.set(tree.id, tree);
  });
  await s.run(stream(problems));
  return trees;
}

/** The sim policy, refusing the problem `id` once its trajectory has `depth` steps. */
class RefusingPolicy implements Policy {
  readonly name = 'refusing';
  private readonly sim = new SimPolicy({ seed: 3, pCorrect: 0.2 });
  constructor(
    private readonly id: string,
    private readonly depth: number,
  ) {}
  async generate(requests: StepRequest[]): Promise<(string[] | Refused)[]> {
    const out: (string[] | Refused)[] = await this.sim.generate(requests);
    requests.forEach((r, i) => {
      if (r.problem.id === this.id && r.steps.length >= this.depth) out[i] = { refused: `prompt too long: ${1000 + r.steps.length} tokens > 999` };
    });
    return out;
  }
}

/** The sim PPM, refusing problem `id`'s steps at `depth`; `fused`: as a hidden-state PPM with a head. */
class RefusingPpm implements Ppm {
  readonly name = 'refusing';
  private readonly sim = new SimPpm({ seed: 3 });
  readonly head: { weight: Float32Array; bias: number } | undefined;
  constructor(
    private readonly id: string,
    private readonly depth: number,
    fused: boolean,
  ) {
    this.head = fused ? { weight: Float32Array.of(1), bias: 0 } : undefined;
    if (!fused) this.hidden = undefined;
  }
  private why = (r: ScoreRequest): Refused | undefined => (r.problem.id === this.id && r.steps.length >= this.depth ? { refused: 'prompt too long: 3000 tokens > 2048' } : undefined);
  async score(requests: ScoreRequest[]): Promise<(number | Refused)[]> {
    const scores = await this.sim.score(requests);
    return requests.map((r, i) => this.why(r) ?? scores[i]!);
  }
  hidden?: Ppm['hidden'] = async (requests) => ({ hidden: Float32Array.from(await this.sim.score(requests)), refused: requests.map(this.why) });
}

for (const engine of ['native', 'reference'] as const) {
  for (const fused of [false, true]) {
    test(`${engine}: a step the ${fused ? 'fused ' : ''}PPM refuses stops its tree unscored; the others go on`, async () => {
      const problems = ['p0', 'p1', 'p2'].map(small);
      // p0's tree has open nodes at depth 2 (seed 3), which the PPM is asked to score
      const trees = await search(new SimPolicy({ seed: 3, pCorrect: 0.2 }), problems, { engine, maxDepth: 8 }, new RefusingPpm('p0', 2, fused));
      const t = trees.get('p0')!;
      assert.equal(t.error, 'prompt too long: 3000 tokens > 2048');
      const deep = t.nodes.filter((n) => n.depth >= 2);
      assert.ok(deep.some((n) => n.terminal === null), 'open steps were refused');
      assert.ok(deep.every((n) => n.ppm === null && (n.terminal !== null || n.N === 0)), 'refused steps are unscored');
      assert.ok(t.nodes.filter((n) => n.depth === 1).every((n) => n.ppm !== null || n.terminal !== null), 'depth 1 was scored');
      for (const id of ['p1', 'p2']) {
        assert.equal(trees.get(id)!.error, undefined);
        assert.ok(trees.get(id)!.nodes.some((n) => n.ppm !== null), `${id}: scored`);
      }
    });
  }
}

for (const engine of ['native', 'reference'] as const) {
  test(`${engine}: a refused root writes the tree with its error and no search; the others are searched`, async () => {
    const problems = ['p0', 'p1', 'p2', 'p3'].map(small);
    const trees = await search(new RefusingPolicy('p1', 0), problems, { engine });
    assert.equal(trees.size, 4);
    const t = trees.get('p1')!;
    assert.equal(t.error, 'prompt too long: 1000 tokens > 999');
    assert.equal(t.nodes.length, 1);
    assert.equal(t.rollouts, 0);
    for (const id of ['p0', 'p2', 'p3']) {
      assert.equal(trees.get(id)!.error, undefined);
      assert.ok(trees.get(id)!.nodes.length > 1);
    }
  });

  test(`${engine}: a refusal deeper in the tree stops that tree with the nodes searched so far`, async () => {
    const problems = ['p0', 'p1', 'p2'].map(small);
    const trees = await search(new RefusingPolicy('p1', 1), problems, { engine, maxDepth: 8 });
    const t = trees.get('p1')!;
    assert.equal(t.error, 'prompt too long: 1001 tokens > 999');
    assert.ok(t.nodes.length > 1, 'the root was expanded before the refusal');
    assert.ok(t.nodes.every((n) => n.depth <= 1), 'nothing below depth 1 was expanded');
    assert.equal(trees.get('p0')!.error, undefined);
  });
}

test('synth: a huge problem among normal ones gets its error line, fast, and the others are searched', { skip: pythonSkip }, () => {
  const problems = join(root, 'problems.jsonl');
  const rows = [small('n1'), small('n2'), huge, small('n3')];
  writeFileSync(problems, rows.map((p) => JSON.stringify(p) + '\n').join(''));
  const out = join(root, 'out');
  const started = performance.now();
  const r = spawnSync(
    process.execPath,
    [cli, 'synth', '--problems', problems, '--out', out, '--policy', `onnx:${policyDir}`, '--ppm', `onnx:${join(models, 'ppm-score')}`, '--device', 'cpu', '--threads', '1',
      '--rollouts', '2', '--n', '2', '--max-depth', '2', '--max-tokens', '8', '--concurrency', '4', '--no-progress'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, `exit ${r.status} (signal ${r.signal})\n${r.stderr}`);
  assert.ok(performance.now() - started < 60_000, 'the run finishes quickly');
  const trees = readFileSync(join(out, 'trees.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ExportedTree);
  assert.equal(trees.length, 4);
  const refused = trees.find((t) => t.id === 'huge')!;
  assert.match(refused.error!, /^prompt too long: at least \d+ tokens > 4095$/);
  assert.equal(refused.nodes.length, 1);
  for (const t of trees.filter((t) => t.id !== 'huge')) {
    assert.equal(t.error, undefined);
    assert.ok(t.nodes.length > 1, `${t.id} was searched`);
  }
});

test('synth --max-prompt-tokens refuses the problems past it with their exact counts', { skip: pythonSkip }, async () => {
  const problems = join(root, 'small.jsonl');
  const rows = [small('m1'), small('m22')];
  writeFileSync(problems, rows.map((p) => JSON.stringify(p) + '\n').join(''));
  const out = join(root, 'out-max');
  const r = spawnSync(
    process.execPath,
    [cli, 'synth', '--problems', problems, '--out', out, '--policy', `onnx:${policyDir}`, '--ppm', 'none', '--device', 'cpu', '--threads', '1',
      '--rollouts', '1', '--n', '1', '--max-tokens', '4', '--max-prompt-tokens', '10', '--no-progress'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, `exit ${r.status} (signal ${r.signal})\n${r.stderr}`);
  const tokenizer = Tokenizer.load(join(policyDir, 'tokenizer.json'));
  const trees = readFileSync(join(out, 'trees.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ExportedTree);
  for (const p of rows) {
    const tokens = (await tokenizer.encode(defaultPromptTemplate.replace('{problem}', p.problem))).length;
    assert.equal(trees.find((t) => t.id === p.id)!.error, `prompt too long: ${tokens} tokens > 10`);
  }
  assert.equal(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).maxPromptTokens, 10);
  const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8'));
  assert.equal(stats.models.policy.refusedPrompts, 2);
});

test('eval and solve say why a model refused a problem', { skip: pythonSkip }, () => {
  const problems = join(root, 'eval-small.jsonl');
  writeFileSync(problems, JSON.stringify(small('e1')) + '\n');
  const model = ['--policy', `onnx:${policyDir}`, '--ppm', 'none', '--device', 'cpu', '--threads', '1', '--max-tokens', '4', '--max-prompt-tokens', '10', '--greedy'];
  const out = join(root, 'eval-max');
  const e = spawnSync(process.execPath, [cli, 'eval', '--problems', problems, '--out', out, ...model, '--no-progress'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(e.status, 0, e.stderr);
  const [result] = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { error?: string; answer: unknown });
  assert.match(result!.error!, /^prompt too long: \d+ tokens > 10$/);
  assert.equal(result!.answer, null);
  const s = spawnSync(process.execPath, [cli, 'solve', small('s1').problem, ...model, '--json'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(s.status, 3, s.stderr);
  assert.match((JSON.parse(s.stdout) as { error: string }).error, /^prompt too long: \d+ tokens > 10$/);
});
