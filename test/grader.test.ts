// The answer grader: `equivalent` on hand-written pairs (equal and not, per kind of answer),
// its purity, MathGrader's pool (the same verdicts, the time limit, a healthy pool after a
// comparison is stopped), `rstar grade` as a child process (dist/, built by npm test), and
// the gold answers of ../shared/data (skipped without it).
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readGoldSet, unboxable, withoutSpaces } from '../src/bench/grader-bench.js';
import { equivalent } from '../src/grade/equivalence.js';
import { MathGrader, type MathGraderOptions } from '../src/grade/math-grader.js';

type Pair = [pred: string, gold: string];

/** Equal pairs by kind of answer: [pred, gold]. */
const equalPairs: Record<string, Pair[]> = {
  'integers and decimals': [
    ['18', '18'],
    ['18.0', '18'],
    ['025', '25'],
    ['-3', '-3.00'],
    ['.5', '0.5'],
    ['+7', '7'],
    ['123456789012345678901234567890', '123456789012345678901234567890'],
  ],
  'thousands separators': [
    ['1,000', '1000'],
    ['1000', '1{,}000'],
    ['10,\\!000', '10000'],
    ['12\\,345', '12345'],
    ['1,234.5', '1234.5'],
    ['\\$1,000', '1000'],
  ],
  fractions: [
    ['0.5', '\\frac{1}{2}'],
    ['1/2', '\\frac12'],
    ['\\dfrac{9}{7}', '\\frac{9}{7}'],
    ['\\tfrac{3}{4}', '0.75'],
    ['-\\frac{1}{3}', '\\frac{-1}{3}'],
    ['\\frac{2}{4}', '\\frac{1}{2}'],
    ['0.3333333333333333', '\\frac{1}{3}'],
    ['1\\frac{1}{4}', '\\frac{5}{4}'],
    ['6\\frac23', '20/3'],
  ],
  percentages: [
    ['10\\%', '0.1'],
    ['0.1', '10\\%'],
    ['10%', '10'],
    ['12.5\\%', '\\frac{1}{8}'],
  ],
  'scientific notation': [
    ['1.5e3', '1500'],
    ['1.5\\times10^{3}', '1500'],
    ['4.46 \\times 10^{19}', '4.46e19'],
    ['2.26e-10', '2.26 \\cdot 10^{-10}'],
    ['1.09 \\times 10^{0}', '1.09'],
  ],
  'LaTeX expressions': [
    ['2\\sqrt{3}', '\\sqrt{12}'],
    ['\\sqrt{2}/2', '\\frac{1}{\\sqrt{2}}'],
    ['\\frac{\\sqrt{21}}{5}', '\\frac{1}{5}\\sqrt{21}'],
    ['\\pi/2', '\\frac{\\pi}{2}'],
    ['288\\pi', '288 \\pi'],
    ['904.7786842338604', '288\\pi'],
    ['2^{10}', '1024'],
    ['e^{-1}', '\\frac{1}{e}'],
    ['\\log_2 8', '3'],
    ['\\binom{5}{2}', '10'],
    ['3!', '6'],
    ['\\left( \\frac{1}{2} \\right)', '0.5'],
    ['6 - 5i', '-5i+6'],
    ['\\frac{-56+48i}{85}', '\\frac{48 i-56}{85}'],
    ['\\sum_{k=1}^{100} k', '5050'],
    ['-1+2^{2018}', '2^{2018}-1'],
    ['3025 \\frac{1}{2017}', '\\frac{3025}{2017}'],
  ],
  'expressions with variables': [
    ['(x+1)^2', 'x^2+2x+1'],
    ['\\frac{x+2}{7}', '\\frac{x}{7}+\\frac{2}{7}'],
    ['10-4n', '10-4 n'],
    ['-4n+10', '10-4 n'],
    ['a_1 + a_2', 'a_{2}+a_{1}'],
    ['\\sin^2 x + \\cos^2 x', '1'],
    ['\\frac{n(n+1)}{2}', '\\binom{n+1}{2}'],
    ['mn-\\lfloor m/2\\rfloor', 'm n-\\lfloor m / 2\\rfloor'],
    ['2^{n}', '2^n'],
  ],
  intervals: [
    ['(-\\infty, 3]', '\\left(-\\infty,3\\right]'],
    ['[1,+\\infty)', '[1, \\infty)'],
    ['[\\frac{1}{2}, 8]', '[0.5, 8]'],
    ['(-\\sqrt{3}, \\sqrt{3})', '\\left( -\\sqrt{3}, \\sqrt{3} \\right)'],
    ['[-3,0) \\cup (0,4)', '(0,4)\\cup[-3,0)'],
    ['x \\geq 3', '[3, \\infty)'],
    ['-2 \\leq x < 1', '[-2, 1)'],
    ['x \\in [1, 2]', '[1,2]'],
  ],
  'tuples and points': [
    ['(1,2)', '(1, 2)'],
    ['(0.5, 3)', '\\left(\\frac{1}{2}, 3\\right)'],
    ['\\left( 3, \\frac{\\pi}{2} \\right)', '(3,\\pi/2)'],
    ['(6,31,-1)', '(6, 31, -1)'],
  ],
  'sets and several answers': [
    ['\\{2,1\\}', '\\{1,2\\}'],
    ['2, 1', '\\{1,2\\}'],
    ['1, 2', '2,1'],
    ['\\{1,2\\}', '1, 2'],
    ['x = -2 \\text{ or } x = 2', '2, -2'],
    ['2 or -2 or \\frac{1}{2}', '\\frac12, 2, -2'],
    ['(2,4,6), (1,1,1)', '(1, 1, 1), (2, 4, 6)'],
    ['2 \\pm \\sqrt{3}', '2+\\sqrt{3}, 2-\\sqrt{3}'],
    ['\\pm 2', '-2, 2'],
    ['48,384', '48, 384'],
    ['\\{1\\}', '1'],
  ],
  equations: [
    ['x=3', '3'],
    ['3', 'x = 3'],
    ['f(x)=2x', '2x'],
    ['\\theta = \\frac{\\pi}{4}', '\\frac{\\pi}{4}'],
    ['k = 5', 'k=5'],
    ['y = 2x + 3', 'y=3+2x'],
    ['2x - y + 3 = 0', 'y = 2x + 3'],
    ['x = 0, \\frac{\\pi}{3}', '0, \\frac{\\pi}{3}'],
  ],
  'text and units': [
    ['\\text{Yes}', 'yes'],
    ['No', '\\text{no}'],
    ['all real numbers', '\\text{All real numbers}'],
    ['5 cm', '5'],
    ['5\\text{ cm}', '5'],
    ['6 \\mathrm{~cm}', '6'],
    ['12 dollars', '\\$12'],
    ['90\\text{ square units}', '90'],
    ['\\frac{68}{3}\\text{ pounds}', '\\frac{68}{3}'],
    ['4 m/s', '4'],
    ['The answer is $\\boxed{42}$.', '42'],
    ['\\[ 195 \\]', '195'],
  ],
  degrees: [
    ['30^\\circ', '30'],
    ['30^{\\circ}', '30'],
    ['30°', '30'],
    ['30 degrees', '30'],
    ['\\frac{270}{7}\\text{ degrees}', '\\frac{270}7'],
  ],
  matrices: [
    ['\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}', '\\begin{bmatrix}1 & 2 \\\\ 3 & 4\\end{bmatrix}'],
    ['\\begin{pmatrix} 0.5 \\\\ -2 \\end{pmatrix}', '\\begin{pmatrix} \\frac{1}{2} \\\\ -2 \\end{pmatrix}'],
    ['\\left[\\begin{array}{rr}3 & 7 \\\\ 5 & 12\\end{array}\\right]', '\\begin{bmatrix}3&7\\\\5&12\\end{bmatrix}'],
    ['\\begin{pmatrix} 1 \\\\ -2 \\\\ -1 \\end{pmatrix}', '(1,-2,-1)'],
  ],
  'multiple choice': [
    ['(B)', 'B'],
    ['B', '(B)'],
    ['\\text{(B)}', 'B'],
    ['\\textbf{(B)} 12', 'B'],
    ['B. 12', 'B'],
  ],
  'damaged copies (rStar answer_rstar, JSON escapes)': [
    ['\\{x|-2\\leqx<1\\}', '\\{x|-2\\leq x < 1\\}'],
    ['C_{400}^{40}\\cdotC_{200}^{20}', 'C_{400}^{40} \\cdot C_{200}^{20}'],
    ['\\3040', '\\$ 3040'],
    ['\frac{5}{16}', '\\frac{5}{16}'],
    ['\\left(\tfrac32, -\\tfrac52\\right)', '(1.5, -2.5)'],
  ],
};

/** Not-equal pairs: [pred, gold, why they differ]. */
const unequalPairs: [pred: string, gold: string, why: string][] = [
  ['1/2', '2', 'a fraction is not its denominator'],
  ['0.5', '5', 'the decimal point counts'],
  ['18', '19', 'different integers'],
  ['123456789012345678901234567891', '123456789012345678901234567890', 'integers are exact, however large'],
  ['3.1416', '\\pi', 'off by 2e-6 relative: beyond the 1e-6 tolerance'],
  ['0.333', '\\frac{1}{3}', 'a rounded value is a different answer'],
  ['1.5775423333953336e-7', '\\frac{550}{9^{10}}', '1e-4 off, tiny values (the engine calls numbers within 1e-10 the same)'],
  ['3^{2007}', '2^{2018}-1', 'both overflow doubles: not evaluated, so not equal'],
  ['10', '0.1', 'without a % sign, 10 is not 0.1 (Qwen2.5-Math accepts it; we do not)'],
  ['1\\%', '10', 'a percentage is x or x/100, not 100x'],
  ['(1,2)', '(2,1)', 'tuples are ordered'],
  ['[1,2]', '(1,2)', 'a closed interval is not an open one'],
  ['[1,2)', '[1,2]', 'the closing bracket counts'],
  ['(1,2,3)', '(1,2)', 'different lengths'],
  ['\\{1,2\\}', '\\{1,2,3\\}', 'different sets'],
  ['1, 1, 2', '1, 2, 2', 'multisets: each item is matched once'],
  ['(1,2)', '1, 2', 'a tuple is not a list of answers'],
  ['x^2+2x', 'x^2+2x+1', 'different polynomials'],
  ['x+1', 'y+1', 'different variables'],
  ['\\lfloor n/2 \\rfloor', 'n/2', 'the floor counts (non-integer sample points)'],
  ['\\sqrt{2}', '2', 'a root is not its radicand'],
  ['6+5i', '6-5i', 'conjugates differ'],
  ['x=3', '4', 'the right-hand side is compared'],
  ['x+y=3', '3', 'only a variable (or function) on the left is dropped'],
  ['(C)', 'B', 'another option'],
  ['C', '(B)', 'another option'],
  ['no', 'yes', 'prose compared as text'],
  ['odd', 'even', 'prose compared as text'],
  ['5 cm', '6', 'units go, values stay'],
  ['2m', '2', 'a letter glued to a number is a variable, not a unit'],
  ['3 n', '3', 'a variable is not a unit'],
  ['\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}', '\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}', 'one entry differs'],
  ['\\begin{pmatrix}1&2\\end{pmatrix}', '\\begin{pmatrix}1\\\\2\\end{pmatrix}', 'shapes differ (matrices)'],
  ['', '5', 'an empty answer'],
  ['100000!', '1', 'a factorial too large to evaluate is only equal to itself'],
  ['x \\geq 3', '(3, \\infty)', 'the bound is included'],
  ['\\sum_{k=1}^{10^{9}} k', '500001500001', 'the engine stops summing after ~10^6 terms: longer sums are not evaluated'],
  ['\\sum_{n=1}^{\\infty} \\frac{1}{n^2}', '\\frac{\\pi^2}{6}', 'infinite sums are not evaluated (the engine gives NaN)'],
  ['-1 + 2\\sum_{i=0}^{8}\\binom{n}{i}', '2 \\sum_{i=0}^{8} \\binom{n}{i} - 1', 'the engine throws on a sum over i (the imaginary unit): not shown equal'],
  ['1,000', '1, 0', 'thousands, not a list with 000'],
];

describe('equivalent: equal pairs', () => {
  for (const [kind, pairs] of Object.entries(equalPairs)) {
    test(kind, () => {
      for (const [pred, gold] of pairs) assert.equal(equivalent(pred, gold), true, `${JSON.stringify(pred)} should equal ${JSON.stringify(gold)}`);
    });
  }
});

describe('equivalent: unequal pairs', () => {
  for (const [pred, gold, why] of unequalPairs) {
    test(`${JSON.stringify(pred)} vs ${JSON.stringify(gold)}: ${why}`, () => {
      assert.equal(equivalent(pred, gold), false);
    });
  }
});

const allPairs: Pair[] = [...Object.values(equalPairs).flat(), ...unequalPairs.map(([p, g]) => [p, g] as Pair)];

describe('equivalent: properties', () => {
  test('pure: the same verdicts in any order (no state carried between comparisons)', () => {
    const forward = allPairs.map(([p, g]) => equivalent(p, g));
    const backward = [...allPairs].reverse().map(([p, g]) => equivalent(p, g)).reverse();
    assert.deepEqual(backward, forward);
  });

  test('symmetric, except where the gold decides the reading (a multiple-choice gold)', () => {
    const choice = new Set(equalPairs['multiple choice']!.concat([['(C)', 'B'], ['C', '(B)']]).map(([p, g]) => p + '\u0000' + g));
    for (const [p, g] of allPairs) {
      if (choice.has(p + '\u0000' + g)) continue;
      assert.equal(equivalent(g, p), equivalent(p, g), `${JSON.stringify(p)} vs ${JSON.stringify(g)}`);
    }
  });
});

/** Runs a pathological sum: about 0.2-0.5 s in the compute engine (it evaluates term by term). */
const slowPair = { pred: '\\sum_{k=1}^{100000} k', gold: '5000050000' };
/** Nested sums, 10^9 terms in all: the engine would add them for most of an hour. */
const hangingPair = { pred: '\\sum_{a=1}^{1000}\\sum_{b=1}^{1000}\\sum_{c=1}^{1000} a b c', gold: '1' };

/** Runs fn with a new MathGrader, closed afterwards. */
async function withGrader(options: Partial<MathGraderOptions>, fn: (grader: MathGrader) => Promise<void>): Promise<void> {
  const grader = new MathGrader(options);
  try {
    await fn(grader);
  } finally {
    await grader.close();
  }
}

describe('MathGrader', () => {
  test('grades a batch in the workers with the same verdicts as equivalent(); a slow comparison within the limit finishes', () =>
    withGrader({ threads: 2, timeLimitMs: 10_000 }, async (grader) => {
      const pairs = allPairs.map(([pred, gold]) => ({ pred, gold }));
      const results = await grader.compare(pairs);
      assert.deepEqual(
        results.map((r) => r.equal),
        pairs.map(({ pred, gold }) => equivalent(pred, gold)),
      );
      assert.ok(results.every((r) => r.error === undefined));
      assert.deepEqual(await grader.grade([{ answer: '0.5', gold: '\\frac12' }, { answer: '2', gold: '3' }]), [true, false]);
      assert.deepEqual(await grader.compare([slowPair]), [{ equal: true }]);
    }));

  test('refuses bad options', () => {
    assert.throws(() => new MathGrader({ threads: 0 }), /threads must be an integer >= 1 \(got 0\)/);
    assert.throws(() => new MathGrader({ timeLimitMs: 0 }), /time limit must be > 0 ms \(got 0\)/);
  });
});

describe('MathGrader: stopped comparisons', () => {
  test('the comparison past the limit is an error; the rest of its batch is graded; a worker replaces the stopped one', () =>
    withGrader({ threads: 1, timeLimitMs: 20 }, async (grader) => {
      const pairs = [
        { pred: '1/2', gold: '0.5' },
        { pred: '2', gold: '3' },
        slowPair,
        { pred: '(1,2)', gold: '(1, 2)' },
        { pred: 'x=3', gold: '3' },
      ];
      const results = await grader.compare(pairs);
      assert.deepEqual(results[2], { equal: false, error: 'timed out after 20 ms' });
      assert.deepEqual(
        results.map((r) => r.equal),
        [true, false, false, true, true],
      );
      assert.equal(grader.stats.timeouts, 1);
      // piscina brings the pool back to its size, and the new worker grades
      assert.deepEqual(await grader.compare([{ pred: '\\frac{1}{2}', gold: '0.5' }]), [{ equal: true }]);
      assert.equal(grader.pool.threads.length, 1);
    }));

  test('a comparison that runs out of worker memory is an error; a worker replaces the lost one', () =>
    withGrader({ threads: 1, workerHeapMb: 16 }, async (grader) => {
      // cleaning a 12 MB answer makes copies of it: more than a 16 MB heap holds
      const big = '1+' + 'x+'.repeat(4e6) + '1';
      const results = await grader.compare([{ pred: '1', gold: '1' }, { pred: big, gold: `${big} ` }, { pred: '(x+1)^2', gold: 'x^2+2x+1' }]);
      assert.equal(results[1]!.equal, false);
      assert.match(results[1]!.error ?? '', /^worker failed: .*memory/);
      assert.deepEqual([results[0], results[2]], [{ equal: true }, { equal: true }]);
      assert.equal(grader.stats.crashes, 1);
      assert.deepEqual(await grader.compare([{ pred: '2', gold: '2.0' }]), [{ equal: true }]);
    }));

  test('a comparison that would never end is stopped too', () =>
    withGrader({ threads: 2, timeLimitMs: 300 }, async (grader) => {
      const started = performance.now();
      const results = await grader.compare([hangingPair, { pred: '7', gold: '7.0' }]);
      assert.deepEqual(results, [{ equal: false, error: 'timed out after 300 ms' }, { equal: true }]);
      assert.ok(performance.now() - started < 10_000, 'the stop came late');
      assert.deepEqual(await grader.compare([{ pred: '3', gold: '3' }]), [{ equal: true }]);
      assert.equal(grader.pool.threads.length, 2);
    }));
});

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'rstar-grade-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs `rstar grade ARGS` (dist/), asserts its exit code and returns what it wrote. */
function rstarGrade(args: string[], exit: number): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, [cli, 'grade', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined, `rstar grade ${args.join(' ')} did not run: ${String(r.error)}`);
  assert.equal(r.status, exit, `exit ${r.status} (signal ${r.signal}), expected ${exit}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}

describe('rstar grade', () => {
  before(() => {
    assert.ok(existsSync(cli), `${cli} is missing: run \`npx tsc -p tsconfig.json\` first`);
  });

  test('one pair: one JSON line', () => {
    const r = rstarGrade(['\\frac{1}{2}', '0.5'], 0);
    assert.deepEqual(JSON.parse(r.stdout), { pred: '\\frac{1}{2}', gold: '0.5', equal: true });
    assert.equal(r.stdout.trim().split('\n').length, 1);
    const r2 = rstarGrade(['(1,2)', '(2,1)'], 0);
    assert.deepEqual(JSON.parse(r2.stdout), { pred: '(1,2)', gold: '(2,1)', equal: false });
  });

  test('a file: every line back, its fields untouched, with the verdict under rstar_grade; blank lines skipped', () => {
    const file = join(root, 'cases.jsonl');
    const lines = [
      { id: 'a', pred: '1/2', gold: '0.5', note: 'fraction' },
      { id: 'b', pred: '(B)', gold: 'B' },
      // a comparison that would run for an hour: stopped at the limit, which leaves the easy
      // pairs ample time even on a loaded machine (a 20 ms limit once timed out '1/2' there)
      { id: 'c', ...hangingPair },
      // fields named like the verdict's parts are the input's, and stay as they are
      { id: 'd', pred: 3, gold: '3.0', equal: false, error: 'from the data set' },
      { id: 'e', pred: '10', gold: '0.1', equal: true },
    ];
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n\n') + '\n');
    const r = rstarGrade(['--file', file, '--time-limit-ms', '1000'], 0);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(out, [
      { id: 'a', pred: '1/2', gold: '0.5', note: 'fraction', rstar_grade: { equal: true } },
      { id: 'b', pred: '(B)', gold: 'B', rstar_grade: { equal: true } },
      { id: 'c', ...hangingPair, rstar_grade: { equal: false, error: 'timed out after 1000 ms' } },
      { id: 'd', pred: 3, gold: '3.0', equal: false, error: 'from the data set', rstar_grade: { equal: true } },
      { id: 'e', pred: '10', gold: '0.1', equal: true, rstar_grade: { equal: false } },
    ]);
    assert.match(r.stderr, /graded 5 pairs: 3 equal, 1 not, 1 errors \(1 timed out\)/);

    const outFile = join(root, 'graded.jsonl');
    const r2 = rstarGrade(['--file', file, '--out', outFile], 0);
    assert.equal(r2.stdout, '');
    const written = readFileSync(outFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, { equal: boolean }>);
    assert.deepEqual(written.map((l) => l.rstar_grade!.equal), [true, true, false, true, false]);
    assert.deepEqual(readdirSync(root).filter((f) => f.includes('.tmp-')), [], 'a temp file was left behind');
  });

  test('a line that has a verdict already (rstar_grade) is refused, not overwritten', () => {
    const file = join(root, 'graded-before.jsonl');
    writeFileSync(file, '{"pred": "1", "gold": "1"}\n{"pred": "2", "gold": "3", "rstar_grade": {"equal": true}}\n');
    const r = rstarGrade(['--file', file], 2);
    assert.ok(r.stderr.includes(`rstar: ${file}:2: field "rstar_grade" is where the verdict goes`), r.stderr);
    assert.equal(r.stdout, '');
  });

  test('a bad line is named with FILE:LINE and nothing is written', () => {
    const file = join(root, 'bad.jsonl');
    writeFileSync(file, '{"pred": "1", "gold": "1"}\n{"pred": "2"}\n');
    const outFile = join(root, 'never.jsonl');
    const r = rstarGrade(['--file', file, '--out', outFile], 2);
    assert.ok(r.stderr.includes(`rstar: ${file}:2: missing field "gold"`), r.stderr);
    assert.doesNotMatch(r.stderr, /    at /, 'no stack trace');
    assert.equal(existsSync(outFile), false);

    writeFileSync(file, '{"pred": "1", "gold": "1"}\n{"pred": "2", "gold": [2]}\nnot json\n');
    const r2 = rstarGrade(['--file', file], 2);
    assert.ok(r2.stderr.includes(`${file}:2: field "gold" must be a string or a number`), r2.stderr);
    assert.equal(r2.stdout, '');
  });

  test('contradictory or missing arguments are refused', () => {
    assert.match(rstarGrade(['1'], 2).stderr, /PRED needs a GOLD/);
    assert.match(rstarGrade([], 2).stderr, /give PRED GOLD, or --file/);
    const both = rstarGrade(['1', '1', '--file', 'x.jsonl'], 2);
    assert.match(both.stderr, /either PRED GOLD or --file, not both/);
  });
});

// The gold answers of the evaluation sets: each must survive being boxed and re-spaced, and
// agree with rStar's own copy of it (answer_rstar, whitespace stripped by their tooling).
// bench/grader.ts runs more re-renderings over the same data and lists what disagrees.
const dataDir = resolve(repoRoot, '..', 'shared', 'data');

describe('gold answers of ../shared/data', { skip: existsSync(dataDir) ? false : 'needs ../shared/data (absent in a user clone)' }, () => {
  const sets = existsSync(dataDir) ? readdirSync(dataDir).filter((d) => existsSync(join(dataDir, d, 'test.jsonl'))).sort() : [];
  for (const set of sets) {
    test(set, () => {
      const failures: string[] = [];
      for (const row of readGoldSet(join(dataDir, set, 'test.jsonl'))) {
        for (const gold of row.golds) {
          // an unboxable gold (unpaired braces) is a defect of the data, counted by the benchmark
          if (!unboxable(gold) && !equivalent(`The answer is $\\boxed{${gold}}$.`, gold)) failures.push(`${row.id}: boxed ${gold}`);
          if (!equivalent(withoutSpaces(gold), gold)) failures.push(`${row.id}: without spaces ${gold}`);
        }
        if (row.rstar !== undefined && row.golds.length > 0 && !row.golds.some((g) => equivalent(row.rstar!, g))) {
          failures.push(`${row.id}: answer_rstar ${row.rstar} vs ${row.golds[0]}`);
        }
      }
      assert.deepEqual(failures, []);
    });
  }
});
