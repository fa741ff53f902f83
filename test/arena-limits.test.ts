// Arena sizes that cannot be allocated (issue 15): `--n 100000` or `--max-depth 100000` once
// aborted the process with a double free. They are refused with the options and the bytes
// before anything is written, and the addon itself turns a size it cannot serve into a JS
// error. Native calls that might abort run in child processes, so an abort fails the test
// instead of killing the runner. The CLI tests use dist/ (npm test compiles it first).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../src/engine/native.js';
import { searchDefaults, validateSearchOptions } from '../src/engine/options.js';
import { arenaBytes, nodeBytes } from '../src/engine/tree.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const addonPath = join(repoRoot, 'build', 'Release', 'rstar.node');
const root = mkdtempSync(join(tmpdir(), 'rstar-arena-limits-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('the per-node byte count is the one the addon allocates', () => {
  assert.equal(loadAddon().constants['nodeBytes'], nodeBytes);
  assert.equal(nodeBytes, 8 * 4 + 2);
  assert.equal(arenaBytes(64, 3073), 64 * 3073 * nodeBytes + 64 * 4);
});

for (const [option, value] of [['--n', '100000'], ['--max-depth', '100000']] as const) {
  test(`synth ${option} ${value} is refused with the options and the bytes, before anything is written`, () => {
    const dir = mkdtempSync(join(root, 'cli-'));
    const problems = join(dir, 'problems.jsonl');
    writeFileSync(problems, '{"id":"a","problem":"1 + 1?","answer":"2"}\n{"id":"b","problem":"2 + 2?","answer":"4"}\n');
    const out = join(dir, 'out');
    const r = spawnSync(process.execPath, [cli, 'synth', '--policy', 'sim', '--ppm', 'sim', '--problems', problems, '--out', out, option, value], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const shown = `exit ${r.status} (signal ${r.signal})\n--- stderr\n${r.stderr}`;
    assert.equal(r.signal, null, shown);
    assert.ok(r.status === 1 || r.status === 2, shown);
    for (const name of ['rollouts', 'n', 'max-depth', 'concurrency']) assert.match(r.stderr, new RegExp(`--${name} `), shown);
    assert.match(r.stderr, /\d+ bytes/, shown);
    assert.ok(!existsSync(join(out, 'trees.jsonl')), 'no trees.jsonl');
    assert.ok(!existsSync(out), 'the output dir is not even made');
  });
}

test('validateSearchOptions refuses arenas past int32 node indices or the machine memory', () => {
  const o = { ...searchDefaults };
  assert.throws(() => validateSearchOptions({ ...o, n: 10_000_000 }), (e: Error) => {
    assert.ok(e instanceof RangeError);
    assert.match(e.message, /--rollouts 16 × --max-depth 16 × --n 10000000 \+ 1 = 2560000001 nodes per tree × --concurrency 64/);
    assert.match(e.message, /int32/);
    assert.match(e.message, /bytes/);
    return true;
  });
  // Under int32 (64 trees of 31.25M nodes) but 68 GB: more than this machine (or, on Node 20,
  // than a typed array view may hold).
  const n = 122_070;
  if (arenaBytes(64, 1 + 256 * n) > totalmem()) assert.throws(() => validateSearchOptions({ ...o, n }), /more than (this machine's memory|a JavaScript typed array)/);
  validateSearchOptions(o); // the defaults: 64 trees of 3073 nodes, 6.7 MB
});

/** Runs `code` in a child node (optionally under a virtual memory limit in KiB); its stdout, or the failure. */
function child(code: string, ulimitKb?: number): string {
  const node = `${JSON.stringify(process.execPath)} -e ${JSON.stringify(`const a = require(${JSON.stringify(addonPath)}); ${code}`)}`;
  const r = spawnSync('bash', ['-c', `${ulimitKb ? `ulimit -v ${ulimitKb}; ` : ''}exec ${node}`], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, `the child died of ${r.signal}\n${r.stderr}`);
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}`);
  return r.stdout.trim();
}

const attempt = (make: string) =>
  `try { const x = ${make}; console.log('made'); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }`;

test('the native arena constructor refuses sizes past int32 with a JS error', () => {
  assert.match(child(attempt('new a.Arena(64, 1e9)')), /^Error: Arena: trees \* nodes_per_tree must fit in int32/);
});

// ASan's shadow memory (an RSTAR_ASAN build, run with libasan preloaded) needs more address space
const asan = process.env['LD_PRELOAD']?.includes('libasan') ? 'ASan cannot run under an address-space limit' : false;

test('an allocation the arena cannot get is a JS RangeError naming the bytes, not an abort', { skip: asan }, () => {
  // 2e9 nodes need 68 GB; under a 4 GB address-space limit calloc fails.
  assert.match(child(attempt('new a.Arena(1, 2e9)'), 4_000_000), /^RangeError: Arena: cannot allocate 68000000004 bytes \(1 trees × 2000000000 nodes per tree × 34 bytes per node/);
});

test('views that JavaScript cannot hold are a JS error, not a double free', () => {
  // 1.2e9 nodes: each int32 array is 4.8 GB, over Node 20's 4 GiB Buffer limit (calloc
  // reserves the 41 GB lazily). Where a Node allows such views they are made.
  const out = child(attempt('new a.Arena(1, 1.2e9).arrays()'));
  const limit = Number(spawnSync(process.execPath, ['-p', "require('buffer').constants.MAX_LENGTH"], { encoding: 'utf8' }).stdout);
  if (1.2e9 * 4 > limit) assert.match(out, /^(Range)?Error: .*(larger than|too large|Array buffer allocation failed|cannot)/i);
  else assert.ok(out === 'made' || /Error/.test(out), out);
});
