// What a long run guarantees as a process (src/cli/main.ts, interrupt.ts, io/lock.ts,
// io/jsonl.ts): kill -9 at any point and resume gives exactly one line per problem; one run
// writes a directory at a time; SIGINT/SIGTERM stop cleanly and say so in stats.json; bad
// lines left in trees.jsonl are moved aside and their problems searched again; the first
// failure (a full disk) is the one reported.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KEEP_MALLOC_ENV, tuneMalloc } from '../src/util/malloc.js';
import { cli, lineIds, startCli } from './cli-process.js';

const root = mkdtempSync(join(tmpdir(), 'rstar-run-safety-'));
after(() => rmSync(root, { recursive: true, force: true }));

let problems: string;
const ids: string[] = [];
before(() => {
  problems = join(root, 'problems.jsonl');
  // sim policy: any text will do; 40 problems at 25 ms a policy call take several seconds
  const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `p${i}`, problem: `problem ${i}`, answer: String(i % 7) }));
  writeFileSync(problems, lines.join('\n') + '\n');
  for (let i = 0; i < 40; i++) ids.push(`p${i}`);
});

const slowSynth = (out: string, latencyMs = 25) => ['synth', '--policy', 'sim', '--ppm', 'sim', '--problems', problems, '--out', out, '--sim-latency-ms', String(latencyMs), '--concurrency', '4', '--rollouts', '8', '--no-progress'];

const start = (args: string[]) => startCli(args, { ...process.env, GLIBC_TUNABLES: '', [KEEP_MALLOC_ENV]: '' });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('malloc settings: applied in place on Linux, unless opted out or the user set their own', () => {
  assert.equal(tuneMalloc({ [KEEP_MALLOC_ENV]: '1' }), false);
  assert.equal(tuneMalloc({ GLIBC_TUNABLES: 'glibc.malloc.mmap_max=4' }), false);
  assert.equal(tuneMalloc({}), process.platform === 'linux');
});

test("the CLI's exit code is the command's", async () => {
  const r = await start(['no-such-command']).done;
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /Unknown argument: no-such-command/);
});

test('kill -9 of the rstar pid at random points, 10 times, then resume: exactly one line per problem', async () => {
  const out = join(root, 'killed');
  for (let k = 0; k < 10; k++) {
    const p = start(slowSynth(out));
    await sleep(300 + Math.floor(Math.random() * 900));
    p.kill('SIGKILL');
    const r = await p.done; // 'close': no process the CLI started still holds its stderr
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    // nothing keeps writing once the pid the user started is dead
    const before = lineIds(join(out, 'trees.jsonl')).length;
    await sleep(300);
    assert.equal(lineIds(join(out, 'trees.jsonl')).length, before, 'a process outlived the kill and kept appending');
  }
  const last = await start(slowSynth(out)).done;
  assert.equal(last.code, 0, last.stderr);
  const written = lineIds(join(out, 'trees.jsonl'));
  assert.deepEqual([...written].sort(), [...ids].sort(), 'one line per id');
});

test('one run writes a directory at a time: a second is refused with the owner pid; a dead owner\'s lock is taken over', async () => {
  const out = join(root, 'locked');
  const first = start(slowSynth(out));
  await sleep(800);
  const second = await start(slowSynth(out)).done;
  assert.notEqual(second.code, 0);
  assert.match(second.stderr, new RegExp(`in use by another rstar run \\(pid ${first.pid}\\)`));
  first.kill('SIGKILL');
  await first.done;
  const third = await start(slowSynth(out)).done;
  assert.equal(third.code, 0, third.stderr);
  assert.deepEqual([...lineIds(join(out, 'trees.jsonl'))].sort(), [...ids].sort());
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal}: no new problems, the trees in flight finish, stats.json says interrupted, exit 128 + signal`, async () => {
    const out = join(root, `stopped-${signal}`);
    const p = start(slowSynth(out));
    await sleep(1200);
    const t0 = Date.now();
    p.kill(signal);
    const r = await p.done;
    assert.equal(r.code, signal === 'SIGINT' ? 130 : 143, r.stderr);
    assert.ok(Date.now() - t0 < 15_000, 'bounded');
    assert.match(r.stderr, new RegExp(`${signal}: taking no new problems`));
    const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(stats['interrupted'], true);
    assert.equal(stats['interruptSignal'], signal);
    const written = lineIds(join(out, 'trees.jsonl'));
    assert.equal(stats['problems'], written.length);
    assert.ok(written.length > 0 && written.length < ids.length, `${written.length} written`);
    // and the run resumes to one line per problem
    const rest = await start(slowSynth(out)).done;
    assert.equal(rest.code, 0, rest.stderr);
    assert.deepEqual([...lineIds(join(out, 'trees.jsonl'))].sort(), [...ids].sort());
  });
}

test('a second signal exits at once', async () => {
  const out = join(root, 'twice');
  // trees that take long: the first signal's grace would be seconds
  const p = start(slowSynth(out, 400));
  await sleep(1500);
  p.kill('SIGTERM');
  await sleep(200);
  const t0 = Date.now();
  p.kill('SIGTERM');
  const r = await p.done;
  assert.equal(r.code, 143, r.stderr);
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  assert.match(r.stderr, /SIGTERM again: stopping now/);
});

describe('resume checks every line of trees.jsonl', () => {
  test('a truncated line in the middle is moved to trees.rejected.jsonl and its problem searched again', async () => {
    const out = join(root, 'torn-middle');
    const quick = ['synth', '--policy', 'sim', '--ppm', 'sim', '--problems', problems, '--out', out, '--rollouts', '4', '--no-progress', '--limit', '6'];
    assert.equal((await start(quick).done).code, 0);
    const file = join(out, 'trees.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l);
    // line 3 torn (a crash of some other writer), line 5 valid JSON without the tree's fields
    const torn = lines[2]!.slice(0, 80);
    const partial = JSON.stringify({ id: (JSON.parse(lines[4]!) as { id: string }).id });
    writeFileSync(file, [lines[0], lines[1], torn, lines[3], partial, lines[5]].join('\n') + '\n');
    const r = await start(quick).done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /moved 2 bad lines of .*trees\.jsonl to .*trees\.rejected\.jsonl/);
    assert.deepEqual(readFileSync(join(out, 'trees.rejected.jsonl'), 'utf8'), `${torn}\n${partial}\n`);
    assert.deepEqual([...lineIds(file)].sort(), ids.slice(0, 6).sort());
  });
});

test('a full disk: the trees.jsonl failure is the one reported, not the stats.json one after it', async (t) => {
  const mnt = join(root, 'small');
  mkdirSync(mnt);
  const probe = spawnSync('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', `mount -t tmpfs -o size=96k none ${mnt}`]);
  if (probe.status !== 0) return t.skip('cannot mount a small tmpfs in a user namespace here');
  // a tmpfs of 96 KiB: the trees fill it; then stats.json cannot be written either
  const args = ['synth', '--policy', 'sim', '--ppm', 'sim', '--problems', problems, '--out', join(mnt, 'out'), '--rollouts', '16', '--no-progress'];
  const script = `mount -t tmpfs -o size=96k none ${mnt} && exec "$0" "$@"`;
  const r = spawnSync('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', script, process.execPath, cli, ...args], { encoding: 'utf8', env: { ...process.env, [KEEP_MALLOC_ENV]: '' } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /ENOSPC/);
  assert.match(r.stderr, /trees\.jsonl/, r.stderr);
  assert.doesNotMatch(r.stderr, /stats\.json/, r.stderr);
});

