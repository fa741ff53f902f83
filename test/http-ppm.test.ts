// The HTTP PPM against a small local server speaking vLLM's pooling API shape: request
// shape and batching, per-token outputs (last token scored), raw vs unit values, retries,
// and clear errors.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { HttpPpm } from '../src/backends/server/http-ppm.js';

type Handler = (body: { model: string; input: string[] }, res: ServerResponse) => void | Promise<void>;
let handler: Handler;
let server: Server;
let url: string;
const seen: { url: string; body: { model: string; input: string[] } }[] = [];

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c));
    req.on('end', () => {
      const body = JSON.parse(data) as { model: string; input: string[] };
      seen.push({ url: req.url!, body });
      void handler(body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pooling`;
});
after(() => server.close());

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const problem = { id: 'p', problem: 'What is 2 + 3?', answer: '5' };
/** The score the fake model gives a text: its length, so each text's result is recognisable. */
const perToken = (text: string) => [[0.1], [text.length / 10]];

test('texts go in batches to the pooling URL; the last token of each result is the raw score', async () => {
  seen.length = 0;
  handler = (body, res) =>
    reply(res, 200, { data: body.input.map((t, index) => ({ index, object: 'pooling', data: perToken(t) })).reverse() });
  const ppm = new HttpPpm({ url, model: 'rstar-ppm', batch: 2, maxRetries: 0 });
  const steps = ['<code>\na = 2\n<end_of_step>', '<code>\na = 22\n<end_of_step>', '<code>\na = 222\n<end_of_step>'];
  const scores = await ppm.score(steps.map((s) => ({ problem, steps: [s] })));
  assert.deepEqual(seen.map((s) => [s.url, s.body.input.length, s.body.model]), [['/pooling', 2, 'rstar-ppm'], ['/pooling', 1, 'rstar-ppm']]);
  assert.equal(seen[0]!.body.input[0], `What is 2 + 3?\n\n${steps[0]}`);
  steps.forEach((s, i) => assert.equal(scores[i], Math.fround(Math.tanh((`What is 2 + 3?\n\n${s}`.length / 10) / 5))));
});

test('unit values are taken as they are, and must lie in [-1, 1]', async () => {
  handler = (body, res) => reply(res, 200, { data: body.input.map((_, index) => ({ index, data: 0.25 })) });
  assert.deepEqual(await new HttpPpm({ url, model: 'm', values: 'unit' }).score([{ problem, steps: ['x'] }]), [0.25]);
  handler = (body, res) => reply(res, 200, { data: body.input.map((_, index) => ({ index, data: [3.5] })) });
  await assert.rejects(new HttpPpm({ url, model: 'm', values: 'unit' }).score([{ problem, steps: ['x'] }]), /score 3\.5 of text 0 is outside \[-1, 1\]/);
});

test('429/5xx are retried; wrong shapes, a wrong model and an unreachable server are clear errors', async () => {
  seen.length = 0;
  const statuses = [503, 429, 200];
  handler = (body, res) => {
    const status = statuses.shift()!;
    if (status === 200) reply(res, 200, { data: body.input.map((_, index) => ({ index, data: 0 })) });
    else reply(res, status, { error: { message: 'busy' } }, { 'retry-after-ms': '5' });
  };
  assert.deepEqual(await new HttpPpm({ url, model: 'm', maxRetries: 3 }).score([{ problem, steps: ['x'] }]), [0]);
  assert.equal(seen.length, 3);

  handler = (_body, res) => reply(res, 200, { data: [] });
  await assert.rejects(new HttpPpm({ url, model: 'm', maxRetries: 0 }).score([{ problem, steps: ['x'] }]), /answered 0 results for 1 texts/);
  handler = (_body, res) => reply(res, 200, { data: [{ index: 0, data: 'high' }] });
  await assert.rejects(new HttpPpm({ url, model: 'm', maxRetries: 0 }).score([{ problem, steps: ['x'] }]), /result 0 holds no score/);
  handler = (_body, res) => reply(res, 404, { error: { message: 'The model `nope` does not exist.' } });
  await assert.rejects(new HttpPpm({ url, model: 'nope', maxRetries: 0 }).score([{ problem, steps: ['x'] }]), /ppm http: .*\/pooling has no model "nope"/);

  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  await assert.rejects(
    new HttpPpm({ url: `http://127.0.0.1:${port}/pooling`, model: 'm', maxRetries: 0 }).score([{ problem, steps: ['x'] }]),
    /ppm http: cannot reach http:\/\/127\.0\.0\.1:\d+\/pooling \(ECONNREFUSED/,
  );
});
