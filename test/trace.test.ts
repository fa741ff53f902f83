// --trace: the run's timeline in the Chrome trace event format (src/util/trace.ts): the file's
// shape, the tracks of work that overlaps, and a real synth run whose slices account for
// every batch its stats.json counts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Trace, type TraceEvent } from '../src/util/trace.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const root = mkdtempSync(join(tmpdir(), 'rstar-trace-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

function read(file: string): { events: TraceEvent[]; track: (e: TraceEvent) => string } {
  const events = (JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: TraceEvent[] }).traceEvents;
  const names = new Map(events.filter((e) => e.name === 'thread_name').map((e) => [e.tid, String(e.args!['name'])]));
  return { events, track: (e) => names.get(e.tid) ?? '' };
}

test('a trace: slices on named tracks, overlapping work on tracks of its own, counters; the file appears at the first write', async () => {
  const file = join(root, 'unit.json');
  const trace = new Trace(file, 'unit', 2);
  assert.equal(existsSync(file), false, 'a run refused before its first event leaves the file alone');
  trace.counter('trees searched', trace.now(), { trees: 3 });
  const a = trace.start('grader');
  const b = trace.start('grader'); // while a runs: a track of its own
  await new Promise((r) => setTimeout(r, 5));
  b('compare', 2);
  const c = trace.start('grader'); // b's track is free again
  c('compare');
  a('compare', 7);
  const start = trace.now();
  trace.slice('engine', 'select "x"', start, 4);
  // the writer thread appends each batch of 2 events as it gets it
  for (let waited = 0; !(existsSync(file) && readFileSync(file, 'utf8').includes('select \\"x\\"')) && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  // a run killed here leaves the events so far without the closing brackets
  assert.throws(() => JSON.parse(readFileSync(file, 'utf8')));
  assert.doesNotThrow(() => JSON.parse(readFileSync(file, 'utf8') + ']}'));
  trace.close();
  trace.slice('engine', 'late', trace.now());
  const { events, track } = read(file);
  const slices = events.filter((e) => e.ph === 'X');
  assert.deepEqual(
    slices.map((e) => [track(e), e.name, e.args?.['items']]),
    [
      ['grader 2', 'compare', 2],
      ['grader 2', 'compare', undefined],
      ['grader', 'compare', 7],
      ['engine', 'select "x"', 4],
    ],
  );
  const [long, short] = [slices[2]!, slices[0]!];
  assert.ok(long.ts! <= short.ts! && long.ts! + long.dur! >= short.ts! + short.dur!, 'a, started first and ended last, spans b');
  assert.ok(short.dur! >= 4000, `b lasted the 5 ms it waited (${short.dur} us)`);
  assert.deepEqual(events.find((e) => e.ph === 'C')?.args, { trees: 3 });
  assert.equal(events.find((e) => e.name === 'process_name')?.args?.['name'], 'unit');
});

test('a trace that cannot be written: close() says so, naming the file', () => {
  const file = join(root, 'no-such-dir', 'trace.json');
  const trace = new Trace(file);
  trace.slice('engine', 'select', trace.now(), 1);
  assert.throws(() => trace.close(), (e: Error) => e.message.startsWith(`${file}: cannot write the trace`));
});

test('rstar synth --trace: a slice per stage batch, whose items are the stats\' counts, and the tree engine\'s calls', () => {
  const out = join(root, 'synth');
  const file = join(root, 'synth.json');
  const cli = join(repoRoot, 'dist', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [cli, 'synth', '--policy', 'sim', '--ppm', 'sim', '--problems', join(repoRoot, 'examples', 'problems.jsonl'), '--out', out, '--rollouts', '8', '--n', '3', '--trace', file, '--no-progress'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as { stages: Record<string, { calls: number; items: number }> };
  const { events, track } = read(file);
  const slices = events.filter((e) => e.ph === 'X');
  for (const [stage, s] of Object.entries(stats.stages)) {
    const mine = slices.filter((e) => track(e) === stage);
    assert.equal(mine.length, s.calls, `${stage}: a slice per batch`);
    assert.equal(
      mine.reduce((sum, e) => sum + Number(e.args!['items']), 0),
      s.items,
      `${stage}: the batches' items`,
    );
  }
  const engine = new Set(slices.filter((e) => track(e) === 'engine').map((e) => e.name));
  for (const call of ['select', 'expand', 'initValues', 'backup']) assert.ok(engine.has(call), `the engine's ${call} is traced`);
  assert.ok(events.some((e) => e.ph === 'C' && e.name === 'trees searched'));
});
