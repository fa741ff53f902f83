// `rstar serve` (src/serve/openai.ts): the engine's ONNX policy behind the OpenAI completions
// API, driven by rstar's own server policy client (backends/server/openai.ts) and by plain
// HTTP: the same greedy steps as in-process, seeded samples, concurrent requests sharing
// generate calls, and clear errors.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { OnnxPolicy } from '../src/backends/onnx/policy.js';
import { OpenAIPolicy } from '../src/backends/server/openai.js';
import { accepted, type StepRequest } from '../src/engine/backend.js';
import { batched, serveOpenAI } from '../src/serve/openai.js';

const dir = join(new URL('./fixtures/models/', import.meta.url).pathname, 'policy-in-place');
let served: OnnxPolicy;
let server: Awaited<ReturnType<typeof serveOpenAI>>;

before(async () => {
  served = await OnnxPolicy.open({ dir, device: 'cpu', threads: 1, maxTokens: 24, seed: 1 });
  server = await serveOpenAI(batched(served), { model: 'tiny', host: '127.0.0.1', port: 0 });
});
after(async () => {
  server.close();
  await served.close();
});

const requests: StepRequest[] = [
  { problem: { id: 'a', problem: 'What is 2 + 3?', answer: '' }, steps: [], n: 1 },
  { problem: { id: 'b', problem: 'Tom has 5 apples.', answer: '' }, steps: ['<code>\n# Step 1\nx = 5\n<end_of_step>'], n: 1 },
];
const post = (body: unknown) => fetch(`${server.url}/completions`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });

test('GET /v1/models lists the served model', async () => {
  const r = await fetch(`${server.url}/models`);
  assert.equal(r.status, 200);
  assert.deepEqual(((await r.json()) as { data: { id: string }[] }).data.map((m) => m.id), ['tiny']);
});

test("greedy through the server gives the in-process policy's steps; seeded samples repeat; concurrent requests share calls", async () => {
  const local = await OnnxPolicy.open({ dir, device: 'cpu', threads: 1, maxTokens: 24, temperature: 0 });
  try {
    const client = new OpenAIPolicy({ baseURL: server.url, model: 'tiny', temperature: 0, topP: 1, maxTokens: 24, maxRetries: 0 });
    const want = accepted('policy', requests, await local.generate(requests));
    assert.deepEqual(await client.generate(requests), want);
  } finally {
    await local.close();
  }
  const sampler = new OpenAIPolicy({ baseURL: server.url, model: 'tiny', temperature: 1, topP: 0.95, maxTokens: 24, seed: 5, maxRetries: 0 });
  const many = requests.map((r) => ({ ...r, n: 3 }));
  const a = await sampler.generate(many);
  assert.deepEqual(a.map((x) => x.length), [3, 3]);
  assert.deepEqual(await sampler.generate(many), a, 'the same seed gives the same samples');
  // the client sends the requests of one generate call at once: they wait for each other
  const before = served.stats().calls;
  const wide = Array.from({ length: 8 }, (_, i) => ({ ...requests[i % 2]!, n: 2 }));
  await sampler.generate(wide);
  const calls = served.stats().calls - before;
  assert.ok(calls < wide.length, `${wide.length} requests in ${calls} generate calls`);
});

test('bad requests get a 4xx naming what is wrong', async () => {
  const cases: [unknown, number, RegExp][] = [
    [{ model: 'other', prompt: 'x' }, 404, /model "other" is not served here \(this server serves "tiny"\)/],
    [{ model: 'tiny', prompt: 7 }, 400, /"prompt" must be a string or a non-empty list of strings/],
    [{ model: 'tiny', prompt: 'x', n: 0 }, 400, /"n" must be an integer >= 1/],
    [{ model: 'tiny', prompt: 'x', stop: ['\n\n'] }, 400, /only the step markers .* are stop strings here/],
    [{ model: 'tiny', prompt: 'x', temperature: 'hot' }, 400, /"temperature" must be a number/],
    [{ model: 'tiny', prompt: 'x', temperature: -1 }, 400, /temperature must be >= 0 \(got -1\)/],
    [{ model: 'tiny', prompt: 'x'.repeat(5000) }, 400, /prompt too long: 5000 tokens > 4095/],
    ['{not json', 400, /the request body is not a JSON object/],
  ];
  for (const [body, status, message] of cases) {
    const r = await post(body);
    assert.equal(r.status, status, JSON.stringify(body).slice(0, 80));
    assert.match(((await r.json()) as { error: { message: string } }).error.message, message);
  }
  const r = await fetch(`${server.url}/chat/completions`, { method: 'POST', body: '{}' });
  assert.equal(r.status, 404);
});
