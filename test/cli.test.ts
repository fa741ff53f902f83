// End-to-end tests of the command line: `rstar synth` and `rstar bench tree`, run as child
// processes on small hand-written problem files in temp dirs. They use dist/ (npm test
// compiles it first).
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exactEqual } from '../src/grade/exact-grader.js';
import type { ExportedTree } from '../src/engine/export.js';
import { cudaStatus } from '../src/engine/native.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const gsm8k = resolve(repoRoot, '..', 'shared', 'data', 'gsm8k', 'test.jsonl');

const root = mkdtempSync(join(tmpdir(), 'rstar-cli-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
function tempDir(): string {
  return mkdtempSync(join(root, `case${++dirCount}-`));
}

before(() => {
  assert.ok(existsSync(cli), `${cli} is missing: run \`npx tsc -p tsconfig.json\` first`);
});

/** Runs the CLI; synth runs the simulated backends unless the test names a policy. */
function rstar(args: string[]): SpawnSyncReturns<string> {
  if (args[0] === 'synth' && !args.includes('--policy')) args = [...args, '--policy', 'sim', ...(args.includes('--ppm') ? [] : ['--ppm', 'none'])];
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined, `rstar ${args.join(' ')} did not run: ${String(r.error)}`);
  return r;
}

/** Asserts the exit code, showing the output when it differs. */
function assertExit(r: SpawnSyncReturns<string>, code: number): void {
  assert.equal(r.status, code, `exit ${r.status} (signal ${r.signal}), expected ${code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
}

interface Row {
  id: string;
  problem: string;
  answer: string;
}

function problemRows(count: number, prefix = 'ex'): Row[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i + 1}`,
    problem: `Problem ${i + 1}: add ${i} and ${2 * i + 1}.`,
    answer: String(3 * i + 1),
  }));
}

function writeProblems(file: string, lines: string[]): string {
  writeFileSync(file, lines.map((l) => l + '\n').join(''));
  return file;
}

const line = (r: Row) => JSON.stringify(r);

type Tree = ExportedTree;

/** trees.jsonl: every line complete (newline-terminated), parsed, starting with {"id":. */
function readTrees(dir: string): { trees: Tree[]; text: string } {
  const text = readFileSync(join(dir, 'trees.jsonl'), 'utf8');
  if (text === '') return { trees: [], text };
  assert.ok(text.endsWith('\n'), 'trees.jsonl ends with a torn line');
  const trees = text
    .slice(0, -1)
    .split('\n')
    .map((l, i) => {
      assert.ok(l.startsWith('{"id":'), `line ${i + 1} does not start with {"id": ${l.slice(0, 40)}`);
      return JSON.parse(l) as Tree;
    });
  return { trees, text };
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** Each id exactly once, and no other. */
function assertIdsOnce(trees: Tree[], ids: string[]): void {
  assert.deepEqual(
    trees.map((t) => t.id).sort(),
    [...ids].sort(),
  );
}

const terminals = new Set([null, 'answer', 'code_errors', 'too_deep', 'invalid']);

/** The invariants of one exported tree. */
function checkTree(t: Tree, row: Row, o: { rollouts: number; maxDepth?: number; ppm: boolean }): void {
  const where = `tree ${t.id}`;
  assert.equal(t.problem, row.problem, where);
  assert.equal(t.answer, row.answer, where);
  assert.equal(typeof t.exhausted, 'boolean', where);
  assert.ok(Number.isInteger(t.rollouts) && t.rollouts >= 0 && t.rollouts <= o.rollouts, `${where}: rollouts ${t.rollouts}`);
  if (!t.exhausted) assert.equal(t.rollouts, o.rollouts, `${where}: not exhausted but ${t.rollouts} rollouts`);
  assert.ok(t.nodes.length >= 1, where);
  let solved = false;
  t.nodes.forEach((n, i) => {
    const at = `${where} node ${i}`;
    assert.equal(n.id, i, at);
    assert.ok(terminals.has(n.terminal), `${at}: terminal ${String(n.terminal)}`);
    assert.ok(Number.isInteger(n.N) && n.N >= 0, `${at}: N ${n.N}`);
    if (n.Q === null) assert.equal(n.N, 0, `${at}: Q null with N ${n.N}`);
    else assert.ok(typeof n.Q === 'number' && n.Q >= -1 && n.Q <= 1 && n.N > 0, `${at}: Q ${n.Q} N ${n.N}`);
    if (i === 0) {
      assert.equal(n.parent, -1, at);
      assert.equal(n.depth, 0, at);
      assert.equal(n.step, '', at);
      assert.equal(n.terminal, null, at);
      assert.equal(n.ppm, null, at);
      return;
    }
    assert.ok(n.parent >= 0 && n.parent < i, `${at}: parent ${n.parent}`);
    const parent = t.nodes[n.parent]!;
    assert.equal(n.depth, parent.depth + 1, at);
    assert.equal(parent.terminal, null, `${at}: child of a terminal node`);
    assert.ok(n.step.length > 0, at);
    if (o.maxDepth !== undefined) assert.ok(n.depth <= o.maxDepth, `${at}: depth ${n.depth}`);
    if (n.terminal === 'answer') {
      assert.equal(typeof n.answer, 'string', at);
      assert.equal(typeof n.correct, 'boolean', at);
      assert.equal(n.correct, exactEqual(n.answer!, row.answer), `${at}: answer ${n.answer} vs gold ${row.answer}`);
      assert.ok(n.N >= 1, `${at}: a graded answer is visited`);
      assert.equal(n.Q, n.correct ? 1 : -1, at);
      solved ||= n.correct!;
    } else {
      assert.equal(n.answer, undefined, at);
      assert.equal(n.correct, undefined, at);
    }
    if (n.terminal === null && o.ppm) {
      assert.ok(typeof n.ppm === 'number' && n.ppm >= -1 && n.ppm <= 1, `${at}: ppm ${n.ppm}`);
      assert.ok(n.N >= 1, `${at}: scored but N ${n.N}`);
    } else {
      assert.equal(n.ppm, null, `${at}: ppm ${n.ppm}`);
    }
  });
  // children of a node are contiguous
  const seen = new Set<number>();
  let last = -2;
  for (const n of t.nodes.slice(1)) {
    if (n.parent !== last) {
      assert.ok(!seen.has(n.parent), `${where}: children of node ${n.parent} are not contiguous`);
      seen.add(n.parent);
      last = n.parent;
    }
  }
  assert.equal(t.solved, solved, `${where}: solved`);
}

const small = ['--rollouts', '4', '--n', '3', '--concurrency', '4'];

describe('rstar synth', () => {
  test('a good run writes every tree once, stats.json and run.json', () => {
    const dir = tempDir();
    const rows = problemRows(12);
    // a numeric id and answer, and blank lines, are accepted
    const numeric = { id: 77, problem: 'What is 5 + 6?', answer: 11 };
    const lines = [...rows.slice(0, 6).map(line), '', ...rows.slice(6).map(line), JSON.stringify(numeric), '  '];
    const problems = writeProblems(join(dir, 'problems.jsonl'), lines);
    const out = join(dir, 'out');
    const r = rstar(['synth', '--problems', problems, '--out', out, ...small]); // progress bar left on
    assertExit(r, 0);
    assert.match(r.stderr, /rstar: 13 problems \(\d+ solved\)/);
    assert.doesNotMatch(r.stderr, /resuming|torn/);

    const all: Row[] = [...rows, { id: '77', problem: numeric.problem, answer: '11' }];
    const { trees } = readTrees(out);
    assertIdsOnce(trees, all.map((x) => x.id));
    const byId = new Map(all.map((x) => [x.id, x]));
    for (const t of trees) checkTree(t, byId.get(t.id)!, { rollouts: 4, maxDepth: 16, ppm: false });
    assert.ok(trees.some((t) => t.solved), 'no problem solved');
    assert.ok(trees.some((t) => t.nodes.some((n) => n.correct === false)), 'no wrong answer found: the sim policy should make some');

    const stats = readJson(join(out, 'stats.json'));
    assert.equal(stats.problems, 13);
    assert.equal(stats.resumedProblems, 0);
    assert.equal(stats.failed, false);
    assert.equal(stats.solved, trees.filter((t) => t.solved).length);
    assert.equal(stats.rollouts, trees.reduce((s, t) => s + t.rollouts, 0));
    assert.equal(stats.nodes, trees.reduce((s, t) => s + t.nodes.length - 1, 0));

    // This machine has no GPU, or has one: either way the choice is recorded with its reason.
    assert.ok(stats.device === 'cpu' || stats.device === 'cuda', `device ${stats.device}`);
    assert.match(String(stats.deviceReason), /^auto: /);
    assert.match(r.stderr, new RegExp(`native tree engine on ${stats.device} \\(auto: `));

    const run = readJson(join(out, 'run.json'));
    assert.equal(run.problems, problems);
    assert.equal(run.rollouts, 4);
    assert.equal(run.n, 3);
    assert.equal(run.ppm, 'none');
  });

  test('the same run twice gives the same trees', () => {
    const dir = tempDir();
    const problems = writeProblems(join(dir, 'problems.jsonl'), problemRows(6).map(line));
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    assertExit(rstar(['synth', '--problems', problems, '--out', a, ...small, '--no-progress']), 0);
    assertExit(rstar(['synth', '--problems', problems, '--out', b, ...small, '--no-progress']), 0);
    const sorted = (d: string) => readTrees(d).trees.sort((x, y) => x.id.localeCompare(y.id));
    assert.deepEqual(sorted(a), sorted(b));
    // and another seed searches differently
    const c = join(dir, 'c');
    assertExit(rstar(['synth', '--problems', problems, '--out', c, ...small, '--no-progress', '--seed', '1']), 0);
    assert.notDeepEqual(sorted(a), sorted(c));
  });

  for (const bad of [
    { what: 'a missing field', text: '{"id": "ex-6", "problem": "Problem 6 has no answer."}', field: 'missing field "answer"' },
    { what: 'invalid JSON', text: '{"id": "ex-6", "problem": "Problem 6", "answer": ', field: 'not valid JSON' },
  ]) {
    test(`a bad line 6 (${bad.what}) fails the run after writing the trees before it; fixed, the run resumes`, () => {
      const dir = tempDir();
      const rows = problemRows(10);
      const file = join(dir, 'problems.jsonl');
      writeProblems(file, [...rows.slice(0, 5).map(line), bad.text, ...rows.slice(6).map(line)]);
      const out = join(dir, 'out');
      const args = ['synth', '--problems', file, '--out', out, '--rollouts', '4', '--n', '3', '--concurrency', '2', '--no-progress'];

      const r1 = rstar(args);
      assertExit(r1, 2);
      assert.ok(r1.stderr.includes(`${file}:6: ${bad.field}`), `stderr: ${r1.stderr}`);
      const first = readTrees(out);
      // every tree of the problems before the bad line is written, complete, and none after it
      assertIdsOnce(first.trees, rows.slice(0, 5).map((x) => x.id));
      for (const t of first.trees) checkTree(t, rows.find((x) => x.id === t.id)!, { rollouts: 4, ppm: false });
      const stats1 = readJson(join(out, 'stats.json'));
      assert.equal(stats1.failed, true);
      assert.equal(stats1.problems, 5);

      writeProblems(file, rows.map(line));
      const r2 = rstar(args);
      assertExit(r2, 0);
      assert.match(r2.stderr, /resuming: 5 problems/);
      const second = readTrees(out);
      assert.ok(second.text.startsWith(first.text), 'the trees of the first run were changed');
      assertIdsOnce(second.trees, rows.map((x) => x.id));
      for (const t of second.trees) checkTree(t, rows.find((x) => x.id === t.id)!, { rollouts: 4, ppm: false });
      const stats2 = readJson(join(out, 'stats.json'));
      assert.equal(stats2.failed, false);
      assert.equal(stats2.problems, 5);
      assert.equal(stats2.resumedProblems, 5);
    });
  }

  test('a torn last line in trees.jsonl is cut and its problem searched again', () => {
    const dir = tempDir();
    const rows = problemRows(10);
    const problems = writeProblems(join(dir, 'problems.jsonl'), rows.map(line));
    const out = join(dir, 'out');
    const args = ['synth', '--problems', problems, '--out', out, ...small, '--no-progress'];
    assertExit(rstar([...args, '--limit', '6']), 0);
    const partial = readTrees(out);
    assertIdsOnce(partial.trees, rows.slice(0, 6).map((x) => x.id));
    assert.ok(!partial.trees.some((t) => t.id === 'ex-9'));

    const torn = '{"id":"ex-9","pro';
    appendFileSync(join(out, 'trees.jsonl'), torn);
    const r = rstar(args);
    assertExit(r, 0);
    assert.ok(r.stderr.includes(`cut a torn last line (${torn.length} bytes)`), `stderr: ${r.stderr}`);
    assert.match(r.stderr, /resuming: 6 problems/);
    const { trees, text } = readTrees(out);
    assert.ok(text.startsWith(partial.text));
    assertIdsOnce(trees, rows.map((x) => x.id));
    for (const t of trees) checkTree(t, rows.find((x) => x.id === t.id)!, { rollouts: 4, ppm: false });
  });

  test('a crash in the middle of a line: the torn tree is cut and written again whole', () => {
    const dir = tempDir();
    const rows = problemRows(8);
    const problems = writeProblems(join(dir, 'problems.jsonl'), rows.map(line));
    const out = join(dir, 'out');
    const args = ['synth', '--problems', problems, '--out', out, ...small, '--no-progress'];
    assertExit(rstar(args), 0);
    const full = readTrees(out);
    const lines = full.text.split('\n');
    const kept = lines.slice(0, 5).join('\n') + '\n';
    const half = lines[5]!.slice(0, Math.floor(lines[5]!.length / 2));
    writeFileSync(join(out, 'trees.jsonl'), kept + half);
    const r = rstar(args);
    assertExit(r, 0);
    assert.ok(r.stderr.includes(`torn last line (${Buffer.byteLength(half)} bytes)`), `stderr: ${r.stderr}`);
    assert.match(r.stderr, /resuming: 5 problems/);
    const { trees, text } = readTrees(out);
    assert.ok(text.startsWith(kept));
    assertIdsOnce(trees, rows.map((x) => x.id));
  });

  test('rerunning with different settings is refused unless --overwrite', () => {
    const dir = tempDir();
    const rows = problemRows(5);
    const problems = writeProblems(join(dir, 'problems.jsonl'), rows.map(line));
    const out = join(dir, 'out');
    const base = ['synth', '--problems', problems, '--out', out, '--n', '3', '--concurrency', '4', '--no-progress'];
    assertExit(rstar([...base, '--rollouts', '4']), 0);
    const before = readFileSync(join(out, 'trees.jsonl'), 'utf8');
    const runBefore = readFileSync(join(out, 'run.json'), 'utf8');

    const r = rstar([...base, '--rollouts', '6']);
    assertExit(r, 2);
    assert.match(r.stderr, /rollouts = 4, not 6/);
    assert.ok(r.stderr.includes(join(out, 'run.json')));
    assert.equal(readFileSync(join(out, 'trees.jsonl'), 'utf8'), before, 'a refused run touched trees.jsonl');
    assert.equal(readFileSync(join(out, 'run.json'), 'utf8'), runBefore, 'a refused run touched run.json');

    const r2 = rstar([...base, '--rollouts', '6', '--overwrite']);
    assertExit(r2, 0);
    assert.doesNotMatch(r2.stderr, /resuming/);
    assert.equal(readJson(join(out, 'run.json')).rollouts, 6);
    const { trees } = readTrees(out);
    assertIdsOnce(trees, rows.map((x) => x.id));
    for (const t of trees) checkTree(t, rows.find((x) => x.id === t.id)!, { rollouts: 6, ppm: false });
    assert.ok(trees.some((t) => t.rollouts > 4), 'the --overwrite run did not use --rollouts 6');
    assert.equal(readJson(join(out, 'stats.json')).resumedProblems, 0);
  });

  test('--ppm sim scores every open node', () => {
    const dir = tempDir();
    const rows = problemRows(8);
    const problems = writeProblems(join(dir, 'problems.jsonl'), rows.map(line));
    const out = join(dir, 'out');
    assertExit(rstar(['synth', '--problems', problems, '--out', out, ...small, '--ppm', 'sim', '--no-progress']), 0);
    const { trees } = readTrees(out);
    assertIdsOnce(trees, rows.map((x) => x.id));
    let open = 0;
    for (const t of trees) {
      checkTree(t, rows.find((x) => x.id === t.id)!, { rollouts: 4, ppm: true });
      open += t.nodes.filter((n, i) => i > 0 && n.terminal === null).length;
    }
    assert.ok(open > 0, 'no open node to check');
    assert.equal(readJson(join(out, 'run.json')).ppm, 'sim');
  });

  test('--policy sim without --ppm takes the sim PPM', () => {
    const dir = tempDir();
    const problems = writeProblems(join(dir, 'problems.jsonl'), problemRows(2).map(line));
    const out = join(dir, 'out');
    // the helper adds --ppm none when no --ppm is given; here the CLI's own default is tested
    const r = spawnSync(process.execPath, [cli, 'synth', '--policy', 'sim', '--problems', problems, '--out', out, ...small, '--no-progress'], { cwd: root, encoding: 'utf8' });
    assertExit(r, 0);
    assert.equal(readJson(join(out, 'run.json')).ppm, 'sim');
  });

  test('an unreadable run.json is refused, not taken for "no earlier run"', () => {
    const dir = tempDir();
    const problems = writeProblems(join(dir, 'problems.jsonl'), problemRows(3).map(line));
    const out = join(dir, 'out');
    assertExit(rstar(['synth', '--problems', problems, '--out', out, ...small, '--no-progress']), 0);
    const trees = readFileSync(join(out, 'trees.jsonl'), 'utf8');
    writeFileSync(join(out, 'run.json'), '{"policy": "sim", "rollo');
    const r = rstar(['synth', '--problems', problems, '--out', out, ...small, '--no-progress']);
    assertExit(r, 2);
    assert.match(r.stderr, /run\.json: the earlier run's settings are not JSON .*--overwrite/);
    assert.equal(readFileSync(join(out, 'trees.jsonl'), 'utf8'), trees, 'nothing written');
    assertExit(rstar(['synth', '--problems', problems, '--out', out, ...small, '--no-progress', '--overwrite']), 0);
  });

  test('a bad option value fails with a message naming it', () => {
    const dir = tempDir();
    const problems = writeProblems(join(dir, 'problems.jsonl'), problemRows(2).map(line));
    const r = rstar(['synth', '--problems', problems, '--out', join(dir, 'out'), '--rollouts', '0', '--no-progress']);
    assertExit(r, 2);
    assert.match(r.stderr, /rollouts must be an integer >= 1 \(got 0\)/);
    assert.equal(existsSync(join(dir, 'out', 'run.json')), false, 'a refused run writes nothing');
    const fixed = rstar(['synth', '--problems', problems, '--out', join(dir, 'out'), '--rollouts', '2', '--no-progress']);
    assertExit(fixed, 0);
  });

  test('--device cuda without a usable GPU is refused before anything is written', (t) => {
    if (cudaStatus().usable) return t.skip('this machine has a usable CUDA device');
    const dir = tempDir();
    const problems = writeProblems(join(dir, 'problems.jsonl'), problemRows(2).map(line));
    const r = rstar(['synth', '--problems', problems, '--out', join(dir, 'out'), '--device', 'cuda', '--no-progress']);
    assertExit(r, 2);
    assert.match(r.stderr, /device cuda: no usable CUDA device: \S/);
    assert.doesNotMatch(r.stderr, /    at /, 'no stack trace');
    assert.equal(existsSync(join(dir, 'out', 'run.json')), false, 'a refused run writes nothing');
  });

  test('a missing problems file is named, without a stack trace', () => {
    const dir = tempDir();
    const r = rstar(['synth', '--problems', join(dir, 'nope.jsonl'), '--out', join(dir, 'out'), '--no-progress']);
    assertExit(r, 2);
    assert.match(r.stderr, /^rstar: ENOENT: no such file or directory, open '.*nope\.jsonl'/m);
    assert.doesNotMatch(r.stderr, /    at /);
  });

  test(
    'the first 40 GSM8K test problems',
    { skip: existsSync(gsm8k) ? false : 'needs ../shared/data (absent in a user clone)' },
    () => {
      const out = join(tempDir(), 'out');
      const r = rstar(['synth', '--problems', gsm8k, '--out', out, '--limit', '40', '--rollouts', '4', '--n', '4', '--concurrency', '16', '--no-progress']);
      assertExit(r, 0);
      const rows = readFileSync(gsm8k, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .slice(0, 40)
        .map((l) => {
          const o = JSON.parse(l) as { id: string | number; problem: string; answer: string | number };
          return { id: String(o.id), problem: o.problem, answer: String(o.answer) };
        });
      const { trees } = readTrees(out);
      assert.equal(trees.length, 40);
      assertIdsOnce(trees, rows.map((x) => x.id));
      for (const t of trees) checkTree(t, rows.find((x) => x.id === t.id)!, { rollouts: 4, maxDepth: 16, ppm: false });
      assert.equal(readJson(join(out, 'stats.json')).problems, 40);
    },
  );
});

describe('rstar exec', () => {
  test('prints the classified result as one JSON line; exit 3 when the program failed', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ok.py'), 'print(sum(range(10)))\n');
    writeFileSync(join(dir, 'bad.py'), 'import time\ntime.sleep(60)\n');
    const ok = rstar(['exec', '--file', join(dir, 'ok.py')]);
    assertExit(ok, 0);
    const result = JSON.parse(ok.stdout) as { ok: boolean; stdout: string };
    assert.deepEqual([result.ok, result.stdout], [true, '45\n']);
    const bad = rstar(['exec', '--file', join(dir, 'bad.py'), '--timeout', '1']);
    assertExit(bad, 3);
    assert.deepEqual((({ ok, error, message }) => ({ ok, error, message }))(JSON.parse(bad.stdout)), { ok: false, error: 'timeout', message: 'timed out after 1 s' });
    const missing = rstar(['exec', '--file', join(dir, 'nope.py')]);
    assertExit(missing, 2);
    assert.match(missing.stderr, /nope\.py/);
  });
});

describe('rstar bench tree', () => {
  test('tiny settings: the engines agree', () => {
    const r = rstar(['bench', 'tree', '--trees', '8', '--rollouts', '4']);
    assertExit(r, 0);
    assert.match(r.stdout, /tree bench: 8 trees x 4 rollouts/);
    assert.match(r.stdout, /identical trees: yes/);
  });
});
