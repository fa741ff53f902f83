// Synthesis on a BullMQ queue (src/queue/): `rstar synth --queue` submits, `rstar worker`
// processes search, against a real redis-server on a free localhost port. Every problem
// ends exactly once in trees.jsonl: with 3 workers; with a worker killed -9 mid-run (its
// jobs stall and go to the others); with the submitter killed -9 and started again; and a
// problem that crashes every worker that takes it fails after its attempts, reported, while
// the rest finish.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { jobId, parseQueueUrl } from '../src/queue/queue.js';
import { lineIds, startCli } from './cli-process.js';

const redisMissing = spawnSync('redis-server', ['--version']).error !== undefined;
const skip = redisMissing ? 'redis-server is not installed (apt-get install redis-server)' : false;

const root = mkdtempSync(join(tmpdir(), 'rstar-queue-'));
let redis: ChildProcess | undefined;
let port = 0;
const problems = join(root, 'problems.jsonl');
const ids = Array.from({ length: 30 }, (_, i) => `p${i}`);
const children: ChildProcess[] = [];

before(async () => {
  writeFileSync(problems, ids.map((id, i) => JSON.stringify({ id, problem: `problem ${i}`, answer: String(i % 7) })).join('\n') + '\n');
  if (skip) return;
  port = await new Promise<number>((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => done(p));
    });
  });
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG') break;
    await sleep(100);
  }
});
after(() => {
  for (const c of children) c.kill('SIGKILL');
  redis?.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(args: string[]): ReturnType<typeof startCli> {
  const p = startCli(args);
  children.push(p);
  return p;
}

const url = (name: string) => `redis://127.0.0.1:${port}/${name}`;
const submit = (name: string, out: string, extra: string[] = []) =>
  start(['synth', '--queue', url(name), '--policy', 'sim', '--ppm', 'sim', '--problems', problems, '--out', out, '--rollouts', '6', '--no-progress', ...extra]);
// 40 ms a policy call and 4 trees in flight: a worker takes seconds over 30 problems
const worker = (name: string, extra: string[] = []) => start(['worker', '--queue', url(name), '--concurrency', '4', '--sim-latency-ms', '40', '--lock-s', '1', '--no-progress', ...extra]);

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const stop = async (ps: ReturnType<typeof start>[]) => {
  for (const p of ps) p.kill('SIGTERM');
  await Promise.all(ps.map((p) => p.done));
};

test('queue URLs: host, port, name, password; bad ones refused; job ids from settings and problem', () => {
  const a = parseQueueUrl('redis://:s3cret@10.0.0.2:6380/pool-1');
  assert.equal(a.name, 'pool-1');
  assert.deepEqual(a.connection, { host: '10.0.0.2', port: 6380, password: 's3cret', maxRetriesPerRequest: null });
  assert.equal(parseQueueUrl('redis://localhost').name, 'rstar');
  assert.throws(() => parseQueueUrl('http://localhost/x'), /redis:\/\/ or rediss:\/\//);
  assert.throws(() => parseQueueUrl('redis://localhost/a:b'), /queue name must be/);
  assert.throws(() => parseQueueUrl('not a url'), /--queue must be a URL/);
  assert.equal(jobId({ n: 4 }, 'p1'), jobId({ n: 4 }, 'p1'));
  assert.notEqual(jobId({ n: 4 }, 'p1'), jobId({ n: 5 }, 'p1'));
  assert.match(jobId({ n: 4 }, 'p1'), /^[0-9a-f]{40}$/); // BullMQ refuses ':' in custom ids
});

describe('a run on a queue', { skip }, () => {
  test('3 workers: every problem once; each worker named in stats.json; a second submit adds nothing', async () => {
    const out = join(root, 'three');
    const ws = [worker('three'), worker('three'), worker('three')];
    const r = await submit('three', out).done;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lineIds(join(out, 'trees.jsonl')).sort(), [...ids].sort());
    const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as { written: number; workers: Record<string, number>; failed: unknown[] };
    assert.equal(stats.written, 30);
    assert.deepEqual(stats.failed, []);
    assert.equal(Object.values(stats.workers).reduce((a, b) => a + b, 0), 30);
    assert.ok(Object.keys(stats.workers).length >= 2, `more than one worker took problems: ${JSON.stringify(stats.workers)}`);
    const again = await submit('three', out).done;
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /0 problems on queue three/);
    assert.equal(lineIds(join(out, 'trees.jsonl')).length, 30);
    await stop(ws);
  });

  test('a worker killed -9 mid-run: its problems go to the others, each written once', async () => {
    const out = join(root, 'kill-worker');
    const sub = submit('kill-worker', out);
    const doomed = worker('kill-worker');
    const other = worker('kill-worker');
    await until('a few trees', () => lineIds(join(out, 'trees.jsonl')).length >= 3);
    doomed.kill('SIGKILL');
    const r = await sub.done;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lineIds(join(out, 'trees.jsonl')).sort(), [...ids].sort());
    await stop([other]);
  });

  test('the submitter killed -9 and started again: the trees finished meanwhile are collected, none twice', async () => {
    const out = join(root, 'kill-submitter');
    const ws = [worker('kill-submitter'), worker('kill-submitter')];
    const first = submit('kill-submitter', out);
    await until('a few trees', () => lineIds(join(out, 'trees.jsonl')).length >= 4);
    first.kill('SIGKILL');
    await first.done;
    await sleep(500); // the workers go on meanwhile
    const r = await submit('kill-submitter', out).done;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lineIds(join(out, 'trees.jsonl')).sort(), [...ids].sort());
    await stop(ws);
  });

  test('a problem that crashes every worker fails after its attempts, named; the rest finish', async () => {
    const out = join(root, 'poison');
    const sub = submit('poison', out, ['--attempts', '2']);
    // workers that die on p7 are replaced, as a supervisor (systemd, k8s) would
    let alive = true;
    const keep = async () => {
      while (alive) {
        const w = worker('poison', ['--sim-crash-on', 'p7']);
        await w.done;
      }
    };
    const supervisors = [keep(), keep()];
    const r = await sub.done;
    alive = false;
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /1 problems failed on every attempt \(2\), the rest are written: p7 \(.*stalled/);
    assert.deepEqual(lineIds(join(out, 'trees.jsonl')).sort(), ids.filter((id) => id !== 'p7').sort());
    const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as { failed: { id: string }[] };
    assert.deepEqual(stats.failed.map((f) => f.id), ['p7']);
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(supervisors);
  });

  test('a queue holding another run is refused, naming the setting', async () => {
    const r = await submit('three', join(root, 'other'), ['--n', '3']).done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /queue three .* holds a run with n = 12, not 3/);
  });
});
