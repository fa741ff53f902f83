// `rstar synth --policy openai:URL#MODEL` end to end: a local server plays the model
// (executable rStar steps: one right, one misread, one failing first step per problem), the
// steps run in the sandboxed Python pool and the answers are graded for equivalence.
// Also `--policy onnx:DIR --ppm onnx:DIR` on the random-weight fixtures (test/fixtures/models).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ExportedTree } from '../src/engine/export.js';
import { pythonSkip } from './python-skip.js';
import { generateProblems } from '../src/data/synthetic.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const cli = join(repoRoot, 'dist', 'cli', 'main.js');

/** The model: reads "What is A + B?" and the trajectory from the prompt. */
function candidates(prompt: string): string[] {
  const [a, b] = prompt.match(/\d+/g)!.map(Number);
  const at = prompt.indexOf('<end_of_output>');
  if (at >= 0) {
    const printed = prompt.slice(prompt.indexOf('<output>') + '<output>'.length, at).trim();
    return [`<answer>The sum is \\boxed{${printed}}.<end_of_answer>`];
  }
  if (!prompt.includes('<code>')) {
    return [`<code>\n# Step 1: the numbers\na = ${a}\nb = ${b}\n<end_of_step>`, `<code>\n# Step 1: the numbers\na = ${a}\nb = ${b! + 1}\n<end_of_step>`, `<code>\nb = ${b} / 0\n<end_of_step>`];
  }
  return ['\n# Step 2: add\nprint(a + b)\n<end_of_code>'];
}

let server: Server;
let url: string;
let calls = 0;
const root = mkdtempSync(join(tmpdir(), 'rstar-synth-openai-'));
before(async () => {
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c));
    req.on('end', () => {
      calls++;
      const body = JSON.parse(data) as { prompt: string; n: number; model: string };
      if (body.model !== 'tiny') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `The model \`${body.model}\` does not exist.` } }));
        return;
      }
      const choices = candidates(body.prompt).slice(0, body.n).map((text, index) => ({ index, text, finish_reason: 'stop' }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'c', object: 'text_completion', created: 0, model: body.model, choices }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
});

/** Runs the CLI without blocking this process (the server above answers it). */
function rstar(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('close', (status) => done({ status, stderr }));
  });
}

test('synth with an OpenAI-compatible server: real execution, real grading', { skip: pythonSkip }, async () => {
  const problems = join(root, 'problems.jsonl');
  writeFileSync(problems, [[2, 3], [40, 2], [7, 8]].map(([a, b]) => JSON.stringify({ id: `${a}+${b}`, problem: `What is ${a} + ${b}?`, answer: String(a! + b!) })).join('\n'));
  for (const mode of ['cumulative', 'incremental']) {
    const out = join(root, `out-${mode}`);
    const r = await rstar(['synth', '--problems', problems, '--out', out, '--policy', `openai:${url}#tiny`, '--ppm', 'none', '--exec-mode', mode, '--rollouts', '6', '--n', '3', '--errors-threshold', '1', '--no-progress']);
    assert.equal(r.status, 0, r.stderr);
    const trees = readFileSync(join(out, 'trees.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ExportedTree);
    assert.equal(trees.length, 3);
    for (const t of trees) {
      const sum = t.id.split('+').map(Number).reduce((x, y) => x + y, 0);
      assert.ok(t.solved, `${mode} ${t.id}`);
      assert.ok(t.nodes.some((n) => n.output === `${sum}\n`), 'the program ran');
      assert.ok(t.nodes.some((n) => n.terminal === 'code_errors' && n.output?.startsWith('ZeroDivisionError')));
      assert.deepEqual(t.nodes.filter((n) => n.terminal === 'answer').map((n) => n.correct).sort(), [false, true]);
    }
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(run['policy'], `openai:${url}#tiny`);
  }
  assert.ok(calls > 0);
});

test('synth over two servers (URL1,URL2): each server\'s figures in stats.json', { skip: pythonSkip }, async () => {
  const problems = join(root, 'two.jsonl');
  writeFileSync(problems, [[1, 2], [3, 4], [5, 6], [7, 8]].map(([a, b]) => JSON.stringify({ id: `${a}+${b}`, problem: `What is ${a} + ${b}?`, answer: String(a! + b!) })).join('\n'));
  const out = join(root, 'out-two');
  // two names of the one local server: two servers to the client
  const second = url.replace('127.0.0.1', 'localhost');
  const before = calls;
  const r = await rstar(['synth', '--problems', problems, '--out', out, '--policy', `openai:${url},${second}#tiny`, '--ppm', 'none', '--rollouts', '4', '--n', '3', '--no-progress']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(out, 'trees.jsonl'), 'utf8').trim().split('\n').length, 4);
  const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as { models: { policy: { servers: { url: string; requests: number; errors: number; up: boolean; latencyMs: unknown }[] } } };
  const servers = stats.models.policy.servers;
  assert.deepEqual(servers.map((s) => s.url), [url, second]);
  assert.equal(servers.reduce((a, s) => a + s.requests, 0), calls - before);
  assert.ok(servers.every((s) => s.up && s.errors === 0 && s.requests > 0 && s.latencyMs !== null), JSON.stringify(servers));
});

test('synth refuses a malformed policy, a sim PPM with a real policy, and names a wrong model', { skip: pythonSkip }, async () => {
  const problems = join(root, 'one.jsonl');
  writeFileSync(problems, JSON.stringify({ id: 'a', problem: 'What is 1 + 1?', answer: '2' }));
  const bad = await rstar(['synth', '--problems', problems, '--out', join(root, 'bad'), '--policy', 'openai:nowhere', '--ppm', 'none', '--no-progress']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /policy must be sim, onnx:DIR or openai:URL#MODEL/);
  assert.equal(existsSync(join(root, 'bad', 'run.json')), false);
  const ppm = await rstar(['synth', '--problems', problems, '--out', join(root, 'ppm'), '--policy', `openai:${url}#tiny`, '--ppm', 'sim', '--no-progress']);
  assert.match(ppm.stderr, /use --ppm none, onnx:DIR or http:URL#MODEL with a real policy/);
  const wrong = await rstar(['synth', '--problems', problems, '--out', join(root, 'wrong'), '--policy', `openai:${url}#nope`, '--ppm', 'none', '--no-progress']);
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /has no model "nope"/);
});

test('synth with the shipped policy: --no-share-samples grows the same trees on a row per sample', { skip: pythonSkip }, async () => {
  const problems = join(root, 'shipped.jsonl');
  writeFileSync(problems, generateProblems({ levels: [3, 5], count: 4, seed: 12, split: 'train' }).map((p) => JSON.stringify(p)).join('\n'));
  const run = async (flags: string[]) => {
    const out = join(root, `shipped${flags.join('')}`);
    // one rollout in flight: the trees cannot depend on timing
    const r = await rstar(['synth', '--problems', problems, '--out', out, '--ppm', 'none', '--rollouts', '3', '--n', '6', '--rollouts-in-flight', '1', '--temperature', '1', '--seed', '2', '--no-progress', ...flags]);
    assert.equal(r.status, 0, r.stderr);
    const trees = readFileSync(join(out, 'trees.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ExportedTree);
    const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as { models: { policy: { decodeRows: number; steps: number } } };
    return { trees: trees.sort((a, b) => a.id.localeCompare(b.id)).map((t) => t.nodes.map((n) => [n.step, n.terminal])), policy: stats.models.policy };
  };
  const shared = await run([]);
  const apart = await run(['--no-share-samples']);
  assert.deepEqual(shared.trees, apart.trees);
  assert.equal(shared.policy.steps, apart.policy.steps);
  assert.ok(shared.policy.decodeRows < apart.policy.decodeRows / 2, `${shared.policy.decodeRows} vs ${apart.policy.decodeRows} decode rows`);
});

test('synth with an ONNX policy and PPM in-process: trees written, model stats in stats.json', { skip: pythonSkip }, async () => {
  const problems = join(root, 'onnx.jsonl');
  writeFileSync(problems, [1, 2, 3].map((i) => JSON.stringify({ id: `q${i}`, problem: `What is ${i} + ${i}?`, answer: String(2 * i) })).join('\n'));
  const models = join(repoRoot, 'test', 'fixtures', 'models');
  const out = join(root, 'out-onnx');
  const r = await rstar(['synth', '--problems', problems, '--out', out, '--policy', `onnx:${join(models, 'policy')}`, '--ppm', `onnx:${join(models, 'ppm-hidden')}`, '--rollouts', '4', '--n', '4', '--max-tokens', '40', '--threads', '1', '--no-progress']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /policy .*policy on the cpu provider \(auto: the CUDA provider did not load/);
  assert.match(r.stderr, /ppm .*ppm-hidden \(hidden state \+ fused native head\)/);
  const trees = readFileSync(join(out, 'trees.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ExportedTree);
  assert.deepEqual(trees.map((t) => t.id).sort(), ['q1', 'q2', 'q3']);
  // random weights write mostly invalid steps; a step that merely fails to run stays open
  // (one code error is below the threshold) and then carries the fused PPM score
  for (const t of trees) {
    assert.ok(t.nodes.length > 1);
    for (const n of t.nodes.slice(1)) assert.equal(n.ppm !== null, n.terminal === null, JSON.stringify(n));
  }
  const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as { models: { policy: { provider: string; steps: number; prefix: { encodedTokens: number } }; ppm: { output: string } } };
  assert.equal(stats.models.policy.provider, 'cpu');
  assert.ok(stats.models.policy.steps >= 12 && stats.models.policy.prefix.encodedTokens > 0);
  assert.equal(stats.models.ppm.output, 'last_hidden_state');

  const missing = await rstar(['synth', '--problems', problems, '--out', join(root, 'none'), '--policy', `onnx:${join(root, 'no-such-model')}`, '--ppm', 'none', '--no-progress']);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /tokenizer: .*no-such-model\/tokenizer\.json does not exist/);
  assert.equal(existsSync(join(root, 'none', 'run.json')), false);
});
