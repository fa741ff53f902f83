// Several servers behind one policy (backends/server/fleet.ts): a tree stays on its server,
// new trees go to the least loaded one, a tree leaves an overloaded or failed server, a
// failed server is probed back, calls wait while every server is down and then fail naming
// them, a misconfigured fleet fails at once, and a request that breaks every server is not
// sent forever. Then the OpenAI policy over real (simulated) servers, one of which stops in
// the middle of a search: every problem still ends exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';
import { Fleet, serverUrls, type Server } from '../src/backends/server/fleet.js';
import { OpenAIPolicy } from '../src/backends/server/openai.js';
import { Search } from '../src/engine/search.js';
import { ExactGrader } from '../src/grade/exact-grader.js';
import { serveOpenAI } from '../src/serve/openai.js';
import { SimServerModel } from '../src/sim/server.js';
import { SimVerifier } from '../src/sim/verifier.js';

const refused = () => new OpenAI.APIConnectionError({ cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
const fake = (url: string) => ({ url, client: new OpenAI({ baseURL: url, apiKey: 'x' }) });
const quiet = async <T>(f: () => Promise<T>): Promise<T> => {
  const log = console.error;
  console.error = () => undefined;
  try {
    return await f();
  } finally {
    console.error = log;
  }
};

test('server lists: URL1,URL2 parsed, bad or repeated ones refused', () => {
  assert.deepEqual(serverUrls('http://a:1/v1, http://b:2/v1/', 'p'), ['http://a:1/v1', 'http://b:2/v1']);
  assert.throws(() => serverUrls('http://a:1/v1,ftp://b', 'p'), /"ftp:\/\/b" is not an http\(s\) URL/);
  assert.throws(() => serverUrls('http://a:1/v1,http://a:1/v1', 'p'), /listed twice/);
});

test('affinity: a tree keeps its server; new trees go to the least loaded; an overloaded server sheds trees', async () => {
  const fleet = new Fleet([fake('http://a'), fake('http://b'), fake('http://c')], { who: 't', absThreshold: 2, relThreshold: 1.5 });
  const seen = new Map<string, Set<string>>();
  const call = (tree: string, hold?: Promise<void>) =>
    fleet.call(tree, async (s: Server) => {
      seen.set(tree, (seen.get(tree) ?? new Set()).add(s.url));
      await hold;
      return { result: s.url, promptTokens: 10, completionTokens: 2 };
    });
  // three trees arrive together: one per server
  const first = await Promise.all(['t1', 't2', 't3'].map((t) => call(t, new Promise((r) => setTimeout(r, 5)))));
  assert.equal(new Set(first).size, 3);
  // later calls of each tree go where it went first
  for (let i = 0; i < 5; i++) for (const t of ['t1', 't2', 't3']) await call(t);
  for (const t of ['t1', 't2', 't3']) assert.equal(seen.get(t)!.size, 1, `${t} stayed on one server`);
  // pile 4 held calls of t1 on its server: t1's next call moves to a server with none
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const pile = Array.from({ length: 4 }, () => call('t1', held));
  await new Promise((r) => setImmediate(r));
  const moved = await call('t1');
  assert.notEqual(moved, first[0]);
  release();
  await Promise.all(pile);
  const f = fleet.figures();
  assert.equal(f.reduce((a, s) => a + s.movedOff.overloaded, 0), 1);
  assert.equal(f.reduce((a, s) => a + s.requests, 0), 3 + 15 + 4 + 1);
  assert.equal(f.reduce((a, s) => a + s.promptTokens, 0), 10 * 23);
  assert.ok(f.every((s) => s.latencyMs !== null && s.latencyMs.p99 >= s.latencyMs.p50));
});

test('a failed server is taken out, its calls go elsewhere once, and a probe brings it back', async () => {
  let bDown = true;
  const probe = async (s: Server) => {
    if (s.url === 'http://b' && bDown) throw refused();
  };
  const fleet = new Fleet([fake('http://a'), fake('http://b')], { who: 't', probeMinMs: 5, probeMaxMs: 10 }, probe);
  const ran: string[] = [];
  const f = (s: Server) => {
    ran.push(s.url);
    if (s.url === 'http://b' && bDown) return Promise.reject(refused());
    return Promise.resolve({ result: s.url });
  };
  await quiet(async () => {
    assert.equal(await fleet.call('x', f), 'http://a'); // a answers: the fleet is not misconfigured
    const results = await Promise.all(['y', 'z', 'w'].map((t) => fleet.call(t, f)));
    assert.deepEqual(results, ['http://a', 'http://a', 'http://a']);
  });
  assert.equal(ran.filter((u) => u === 'http://b').length, 1, 'b was tried once, then taken out');
  const down = fleet.figures().find((s) => s.url === 'http://b')!;
  assert.equal(down.up, false);
  assert.equal(down.errors, 1);
  bDown = false;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(fleet.figures().find((s) => s.url === 'http://b')!.up, true);
  fleet.close();
});

test('every server down: calls wait, then fail naming each server; a fleet that never answered fails at once', async () => {
  const probe = () => Promise.reject(refused());
  const never = new Fleet([fake('http://a'), fake('http://b')], { who: 'policy openai', waitMs: 10_000 }, probe);
  const t0 = Date.now();
  await quiet(() => assert.rejects(never.call('x', () => Promise.reject(refused())), OpenAI.APIConnectionError));
  assert.ok(Date.now() - t0 < 1000, 'no wait for servers that never answered');
  never.close();

  let up = true;
  const fleet = new Fleet([fake('http://a'), fake('http://b')], { who: 'policy openai', waitMs: 150, probeMinMs: 20, probeMaxMs: 20 }, probe);
  const f = (s: Server) => (up ? Promise.resolve({ result: s.url }) : Promise.reject(refused()));
  await fleet.call('x', f);
  up = false;
  const start = Date.now();
  await quiet(() => assert.rejects(fleet.call('x', f), /policy openai: every server was down for 0 s: http:\/\/a: ECONNREFUSED; http:\/\/b: ECONNREFUSED/));
  assert.ok(Date.now() - start >= 140, 'it waited');
  fleet.close();
});

test('the wait ends when a server comes back, and the call goes through', async () => {
  let up = false;
  const fleet = new Fleet([fake('http://a')], { who: 't', waitMs: 5000, probeMinMs: 10, probeMaxMs: 10 }, () => (up ? Promise.resolve() : Promise.reject(refused())));
  let fail = false;
  const f = (s: Server) => (fail ? Promise.reject(refused()) : Promise.resolve({ result: s.url }));
  await fleet.call('x', f);
  fail = true;
  setTimeout(() => ((up = true), (fail = false)), 50);
  assert.equal(await quiet(() => fleet.call('x', f)), 'http://a');
  fleet.close();
});

test('a request that breaks every server fails after 2N + 1 tries; a request error (4xx) is not retried elsewhere', async () => {
  const fleet = new Fleet([fake('http://a'), fake('http://b')], { who: 't', probeMinMs: 1, probeMaxMs: 1 }, () => Promise.resolve());
  await fleet.call('ok', (s) => Promise.resolve({ result: s.url }));
  let tries = 0;
  const poison = () => {
    tries++;
    return Promise.reject(new OpenAI.InternalServerError(500, { message: 'crashed' }, 'crashed', new Headers()));
  };
  await quiet(() => assert.rejects(fleet.call('p', poison), /crashed/));
  assert.equal(tries, 5);
  let bad = 0;
  const badRequest = () => {
    bad++;
    return Promise.reject(new OpenAI.BadRequestError(400, { message: 'no' }, 'no', new Headers()));
  };
  await assert.rejects(fleet.call('q', badRequest), /no/);
  assert.equal(bad, 1);
  fleet.close();
});

test('the OpenAI policy over 3 simulated servers, one stopped mid-search: every problem ends once, its trees move', async () => {
  const problems = Array.from({ length: 24 }, (_, i) => ({ id: `p${i}`, problem: `Problem number ${i}: what is ${i} + ${i}?`, answer: String(2 * i) }));
  const template = '{problem}\n\n';
  const models = [0, 1, 2].map(() => new SimServerModel(problems, { template, tokensPerS: 200_000, seqTokensPerS: 20_000 }));
  const servers = await Promise.all(models.map((m) => serveOpenAI(m, { model: 'sim', host: '127.0.0.1', port: 0 })));
  const policy = new OpenAIPolicy({ baseURL: servers.map((s) => s.url).join(','), model: 'sim', maxRetries: 0, serverWaitMs: 5000 });
  const ids: string[] = [];
  const search = new Search({ rollouts: 6, n: 3, concurrency: 8, maxDepth: 10 }, { policy, verifier: new SimVerifier(), grader: new ExactGrader() }, ({ tree }) => {
    ids.push(tree.id);
    // a third of the way in, server 1 stops answering (its connections dropped)
    if (ids.length === 8) {
      servers[1]!.closeAllConnections();
      servers[1]!.close();
    }
  });
  const stats = await quiet(() =>
    search.run(
      (async function* () {
        yield* problems;
      })(),
    ),
  );
  assert.equal(stats.problems, 24);
  assert.deepEqual([...ids].sort(), problems.map((p) => p.id).sort());
  const figures = policy.fleet.figures();
  assert.equal(figures[1]!.up, false);
  assert.ok(figures[1]!.errors >= 1);
  assert.ok(figures[1]!.movedOff.down >= 1, 'trees left the stopped server');
  assert.ok(figures[0]!.requests > 0 && figures[2]!.requests > 0);
  // the servers that stayed up counted the requests the client counted
  for (const i of [0, 2]) assert.equal(models[i]!.stats().requests, figures[i]!.requests);
  assert.ok(figures.every((f) => f.promptTokens > 0 || f.requests === f.errors));
  policy.fleet.close();
  for (const s of [servers[0]!, servers[2]!]) {
    s.closeAllConnections();
    s.close();
  }
});
