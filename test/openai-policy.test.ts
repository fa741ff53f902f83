// The OpenAI-compatible policy against a small local server speaking /v1/completions:
// request shape, n candidates in order, stop strings kept, bounded concurrency, retries on
// 429/5xx, and clear errors for an unreachable server or a wrong model.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { OpenAIPolicy, stepText } from '../src/backends/server/openai.js';
import { stopStrings } from '../src/format/step.js';

type Handler = (body: Record<string, unknown>, res: ServerResponse) => void | Promise<void>;
let handler: Handler;
let server: Server;
let baseURL: string;
const seen: Record<string, unknown>[] = [];

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c));
    req.on('end', () => {
      assert.equal(req.url, '/v1/completions');
      const body = JSON.parse(data) as Record<string, unknown>;
      seen.push(body);
      void handler(body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(() => server.close());

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const completion = (choices: unknown[]) => ({ id: 'c', object: 'text_completion', created: 0, model: 'm', choices });
const problem = { id: 'p1', problem: 'What is 2 + 3?', answer: '5' };

test('one call per expansion: the request shape, n choices in order, stop strings kept', async () => {
  seen.length = 0;
  handler = (_body, res) =>
    reply(
      res,
      200,
      completion([
        { index: 2, text: '\nprint(a + b)\n', finish_reason: 'stop', matched_stop: '<end_of_code>' }, // SGLang style
        { index: 0, text: '\nb = 3\n<end_of_step>', finish_reason: 'stop', stop_reason: '<end_of_step>' }, // kept (vLLM)
        { index: 1, text: '\nb = 3\n', finish_reason: 'stop', stop_reason: '<end_of_step>' }, // reported only
        { index: 3, text: '\nb = 3', finish_reason: 'length', stop_reason: null }, // cut off: stays unterminated
      ]),
    );
  const policy = new OpenAIPolicy({ baseURL, model: 'rstar-policy', temperature: 0.8, topP: 0.9, maxTokens: 256, seed: 7, maxRetries: 0 });
  const [out] = await policy.generate([{ problem, steps: ['<code>\na = 2\n<end_of_step>'], n: 4 }]);
  assert.deepEqual(out, ['\nb = 3\n<end_of_step>', '\nb = 3\n<end_of_step>', '\nprint(a + b)\n<end_of_code>', '\nb = 3']);
  assert.deepEqual(seen[0], {
    model: 'rstar-policy',
    prompt: 'What is 2 + 3?\n\n<code>\na = 2\n<end_of_step>',
    n: 4,
    stop: [...stopStrings],
    temperature: 0.8,
    top_p: 0.9,
    max_tokens: 256,
    seed: 7,
    include_stop_str_in_output: true,
  });
  assert.equal(stepText({ index: 0, text: 'x', stop_reason: 'not-a-stop' }), 'x');
});

test('at most `concurrency` calls in flight', async () => {
  let inFlight = 0;
  let most = 0;
  handler = async (_body, res) => {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 20));
    inFlight--;
    reply(res, 200, completion([{ index: 0, text: 'x<end_of_step>', finish_reason: 'stop' }]));
  };
  const policy = new OpenAIPolicy({ baseURL, model: 'm', concurrency: 3, maxRetries: 0 });
  const out = await policy.generate(Array.from({ length: 12 }, () => ({ problem, steps: [], n: 1 })));
  assert.equal(out.length, 12);
  assert.equal(most, 3);
});

test('429 and 5xx are retried with backoff; the call then succeeds', async () => {
  seen.length = 0;
  const statuses = [429, 503, 200];
  handler = (_body, res) => {
    const status = statuses.shift()!;
    if (status === 200) reply(res, 200, completion([{ index: 0, text: 'ok<end_of_step>', finish_reason: 'stop' }]));
    else reply(res, status, { error: { message: 'busy' } }, { 'retry-after-ms': '5' });
  };
  const policy = new OpenAIPolicy({ baseURL, model: 'm', maxRetries: 3 });
  assert.deepEqual(await policy.generate([{ problem, steps: [], n: 1 }]), [['ok<end_of_step>']]);
  assert.equal(seen.length, 3);
});

test('clear errors: a wrong model, retries used up, an unreachable server', async () => {
  handler = (_body, res) => reply(res, 404, { error: { message: 'The model `nope` does not exist.' } });
  await assert.rejects(new OpenAIPolicy({ baseURL, model: 'nope', maxRetries: 0 }).generate([{ problem, steps: [], n: 1 }]), /has no model "nope".*does not exist/);
  handler = (_body, res) => reply(res, 500, { error: { message: 'engine dead' } }, { 'retry-after-ms': '1' });
  await assert.rejects(new OpenAIPolicy({ baseURL, model: 'm', maxRetries: 1 }).generate([{ problem, steps: [], n: 1 }]), /answered 500: .*engine dead/);
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  await assert.rejects(
    new OpenAIPolicy({ baseURL: `http://127.0.0.1:${port}/v1`, model: 'm', maxRetries: 0 }).generate([{ problem, steps: [], n: 1 }]),
    /cannot reach http:\/\/127\.0\.0\.1:\d+\/v1 \(ECONNREFUSED/,
  );
});
