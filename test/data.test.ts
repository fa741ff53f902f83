// The synthetic word-problem domain (src/data/synthetic.ts) and `rstar data synth-problems`:
// deterministic per seed, held-out templates only in split test, one code step per level,
// answers that the solutions' own code computes (checked by a small evaluator here and by
// the real Python executor, step by step as the search runs them, with the boxed answer
// graded by the equivalence grader), and the CLI's JSONL readable as problems.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { problemLine } from '../src/cli/data.js';
import { perturbedPairs } from '../src/data/synthetic-pairs.js';
import { generateProblems, parseLevels, perLevel, templates, testOnlyTemplates, toSft, type SyntheticProblem } from '../src/data/synthetic.js';
import { readProblems } from '../src/io/problems.js';
import { defaultPromptTemplate, renderPrompt } from '../src/format/prompt.js';
import { ExecutorPool } from '../src/verify/executor-pool.js';
import { equivalent } from '../src/grade/equivalence.js';
import { PythonVerifier } from '../src/verify/python-verifier.js';
import { parseStep, renderTrajectory, splitTrajectory } from '../src/format/step.js';
import { pythonSkip } from './python-skip.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const all = [1, 2, 3, 4, 5, 6];

const train = [0, 1, 2].flatMap((seed) => generateProblems({ levels: all, count: 240, seed, split: 'train' }));
const held = [0, 1, 2].flatMap((seed) => generateProblems({ levels: all, count: 240, seed, split: 'test' }));

test('the same options give the same problems; a larger count extends a smaller one', () => {
  const a = generateProblems({ levels: all, count: 60, seed: 7 });
  assert.deepEqual(generateProblems({ levels: all, count: 60, seed: 7, split: 'train' }), a);
  const b = generateProblems({ levels: all, count: 120, seed: 7 });
  for (const l of all) assert.deepEqual(b.filter((p) => p.level === l).slice(0, 10), a.filter((p) => p.level === l));
  assert.equal(new Set(b.map((p) => p.id)).size, b.length, 'ids are unique');
  assert.equal(new Set(b.map((p) => p.problem)).size, b.length, 'no problem repeats');
  assert.equal(a[0]!.id, 'syn-L1-7-0');
  assert.equal(generateProblems({ levels: [3], count: 2, seed: 7, split: 'test' })[1]!.id, 'syn-L3-7-t1');
});

test('different seeds give different problems', () => {
  const texts = (seed: number, split: 'train' | 'test') => new Set(generateProblems({ levels: all, count: 300, seed, split }).map((p) => p.problem));
  for (const split of ['train', 'test'] as const) {
    const one = texts(1, split);
    const common = [...texts(2, split)].filter((t) => one.has(t));
    assert.deepEqual(common, [], `${split}: seeds 1 and 2 share problems`);
  }
});

test('the count is spread evenly over the levels, in their order', () => {
  assert.deepEqual(perLevel([1, 2, 3], 8), [3, 3, 2]);
  const ps = generateProblems({ levels: [4, 2], count: 5, seed: 3 });
  assert.deepEqual(ps.map((p) => p.level), [4, 4, 4, 2, 2]);
  assert.deepEqual(parseLevels('1-6'), all);
  assert.deepEqual(parseLevels('2,4'), [2, 4]);
  assert.deepEqual(parseLevels('3'), [3]);
  assert.deepEqual(parseLevels('1-2, 5'), [1, 2, 5]);
  for (const bad of ['0', '7', '1-7', '3-1', 'a', '', '1,,2']) assert.throws(() => parseLevels(bad), RangeError, bad);
  assert.throws(() => generateProblems({ levels: [7], count: 1, seed: 0 }), RangeError);
  assert.throws(() => generateProblems({ levels: [1], count: 1, seed: 0.5 }), RangeError);
});

test('held-out templates: never in train, at least one in every test problem, each with a training twin of its kind', () => {
  const ids = new Set(templates.map((t) => t.id));
  assert.equal(ids.size, templates.length);
  const share = testOnlyTemplates.size / templates.length;
  assert.ok(share >= 0.15 && share <= 0.25, `test-only share ${share}`);
  for (const p of train) for (const t of p.template) assert.ok(!testOnlyTemplates.has(t), `${p.id} uses test-only ${t}`);
  for (const p of held) assert.ok(p.template.some((t) => testOnlyTemplates.has(t)), `${p.id} uses no held-out template`);
  const trainKinds = new Set(templates.filter((t) => t.split !== 'test').map((t) => t.kind));
  for (const t of templates.filter((t) => t.split === 'test')) assert.ok(trainKinds.has(t.kind), `${t.id}: no training template of kind ${t.kind}`);
  // every template is used where it may be
  const usedTrain = new Set(train.flatMap((p) => p.template));
  const usedTest = new Set(held.flatMap((p) => p.template));
  for (const t of templates) {
    if (t.split !== 'test') assert.ok(usedTrain.has(t.id), `${t.id} never drawn in train`);
    assert.ok(usedTest.has(t.id), `${t.id} never drawn in test`);
  }
});

/** Evaluates `name = expr` lines (integers, names, + - * // and parentheses) as Python would. */
function evaluate(code: string, env: Map<string, number>): void {
  for (const line of code.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([a-z_][a-z0-9_]*) = (.+)$/.exec(line);
    assert.ok(m, `not an assignment: ${line}`);
    const tokens = m[2]!.match(/\d+|[a-z_][a-z0-9_]*|\/\/|[-+*()]|\S/g)!;
    let at = 0;
    const atom = (): number => {
      const t = tokens[at++]!;
      if (t === '(') {
        const v = sum();
        assert.equal(tokens[at++], ')');
        return v;
      }
      if (/^\d+$/.test(t)) return Number(t);
      assert.ok(env.has(t), `unknown name ${t} in ${line}`);
      return env.get(t)!;
    };
    const product = (): number => {
      let v = atom();
      while (tokens[at] === '*' || tokens[at] === '//') {
        const op = tokens[at++];
        const w = atom();
        if (op === '*') v *= w;
        else {
          assert.ok(w !== 0 && v % w === 0, `inexact division ${v} // ${w} in ${line}`);
          v = v / w;
        }
      }
      return v;
    };
    const sum = (): number => {
      let v = product();
      while (tokens[at] === '+' || tokens[at] === '-') v = tokens[at++] === '+' ? v + product() : v - product();
      return v;
    };
    const v = sum();
    assert.equal(at, tokens.length, `trailing tokens in ${line}`);
    assert.ok(Number.isInteger(v) && v >= 2 && v <= 99_999, `${line}: value ${v}`);
    env.set(m[1]!, v);
  }
}

function checkShape(p: SyntheticProblem): void {
  const where = p.id;
  assert.equal(p.template.length, p.level, where);
  const steps = splitTrajectory(p.solution);
  assert.equal(renderTrajectory(steps), p.solution, `${where}: the steps render back to the solution`);
  assert.equal(steps.length, p.level + 2, `${where}: one code step per level, the print step and the answer`);
  const env = new Map<string, number>();
  const problemNumbers = new Set(p.problem.match(/\d+/g));
  steps.forEach((s, i) => {
    const parsed = parseStep(s.text);
    if (i < p.level) {
      assert.ok(parsed.kind === 'code' && !parsed.endsCode, `${where} step ${i + 1}: ${JSON.stringify(s.text)}`);
      assert.ok(s.text.startsWith(`${i === 0 ? '<code>' : ''}\n# Step ${i + 1}: `), `${where} step ${i + 1} opening`);
      assert.equal(s.output, undefined);
      evaluate(parsed.code, env);
      // every number in the code is in the problem (100 is the percent base)
      for (const n of parsed.code.replace(/^#.*$/gm, '').match(/(?<![a-z_0-9])\d+/g) ?? []) assert.ok(n === '100' || problemNumbers.has(n), `${where}: ${n} is not in the problem`);
    } else if (i === p.level) {
      assert.ok(parsed.kind === 'code' && parsed.endsCode, `${where}: the print step closes the block`);
      const m = /^# Now print the final answer\nprint\(([a-z_0-9]+)\)\n$/.exec(parsed.code);
      assert.ok(m, `${where}: print step ${JSON.stringify(parsed.code)}`);
      assert.equal(String(env.get(m[1]!)), p.answer, `${where}: the printed variable is the answer`);
      assert.equal(s.output, `${p.answer}\n`, `${where}: the output block`);
    } else {
      assert.deepEqual(parsed, { kind: 'answer', answer: p.answer }, where);
    }
  });
  assert.match(p.answer, /^\d+$/);
}

test('levels are code steps; every answer is what the chain computes; numbers come from the problem', () => {
  for (const p of [...train, ...held]) checkShape(p);
});

test('problem and solution stay short enough for a ~1-2k character context', () => {
  for (const p of [...train, ...held]) {
    const chars = p.problem.length + 2 + p.solution.length;
    assert.ok(chars <= 1000, `${p.id}: ${chars} characters`);
  }
});

test('toSft: query, a blank line and the response are the prompt the policy continues', () => {
  for (const p of held.slice(0, 50)) {
    const { query, response } = toSft(p);
    // the context as the search builds it: each step, the closing one with its output
    const context = splitTrajectory(p.solution).map((s) => renderTrajectory([s]));
    assert.equal(renderPrompt(defaultPromptTemplate, p, context), `${query}\n\n${response}`);
  }
});

test('examples/problems.jsonl is `rstar data synth-problems --levels 1-6 --count 24 --seed 2026 --split train`', () => {
  const want = generateProblems({ levels: all, count: 24, seed: 2026, split: 'train' }).map((p) => problemLine(p, false) + '\n').join('');
  assert.equal(readFileSync(join(repoRoot, 'examples', 'problems.jsonl'), 'utf8'), want);
});

describe('reference solutions in the real executor', { skip: pythonSkip }, () => {
  let pool: ExecutorPool;
  before(() => {
    pool = new ExecutorPool({ workers: 2 });
  });
  after(() => pool.close());

  // 40 problems: every level, both splits, several seeds
  const sample: SyntheticProblem[] = [];
  for (const l of all) {
    for (const set of [train, held]) {
      const ofLevel = set.filter((p) => p.level === l);
      for (let k = 0; k < (l <= 2 ? 4 : 3); k++) sample.push(ofLevel[k * 37]!);
    }
  }

  for (const mode of ['cumulative', 'incremental'] as const) {
    test(`${mode}: each step runs, the print step prints the answer, the boxed answer grades as the gold`, async () => {
      assert.equal(sample.length, 40);
      const verifier = new PythonVerifier(pool, mode);
      const runs = sample.map((p) => ({ p, steps: splitTrajectory(p.solution), context: [] as string[] }));
      const longest = Math.max(...runs.map((r) => r.steps.length));
      // one verify call per depth, over all problems, as the search batches them
      for (let d = 0; d < longest; d++) {
        const live = runs.filter((r) => d < r.steps.length);
        const verdicts = await verifier.verify(live.map((r) => ({ problem: r.p, steps: r.context, step: r.steps[d]!.text })));
        live.forEach((r, k) => {
          const v = verdicts[k]!;
          const s = r.steps[d]!;
          const where = `${r.p.id} step ${d + 1}`;
          if (d < r.steps.length - 1) {
            assert.equal(v.kind, 'step', `${where}: ${v.kind} ${v.output ?? ''}`);
            if (d < r.steps.length - 2) assert.equal(v.output, '', `${where}: prints nothing`);
            else assert.equal(v.output, s.output, `${where}: printed ${JSON.stringify(v.output)}`);
            r.context.push(renderTrajectory([{ text: s.text, output: v.output! }]));
          } else {
            assert.equal(v.kind, 'answer', where);
            assert.ok(equivalent(v.answer!, r.p.answer), `${where}: ${v.answer} vs ${r.p.answer}`);
            assert.equal(`${r.p.answer}\n`, r.steps.at(-2)!.output);
          }
        });
      }
      for (const r of runs) {
        verifier.forget(r.p.id);
        assert.equal(r.context.join('') + r.steps.at(-1)!.text, r.p.solution, `${r.p.id}: the run rebuilds the solution`);
      }
    });
  }
});

describe('rstar data synth-problems', () => {
  const root = mkdtempSync(join(tmpdir(), 'rstar-data-test-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const tsx = import.meta.resolve('tsx');
  const cli = join(repoRoot, 'src', 'cli', 'main.ts');
  const rstar = (args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', tsx, cli, 'data', 'synth-problems', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.error, undefined, String(r.error));
    return r;
  };

  test('writes problems JSONL that readProblems reads, with a per-level summary', async () => {
    const out = join(root, 'sub', 'p.jsonl');
    const r = rstar(['--levels', '2,4', '--count', '7', '--seed', '5', '--split', 'test', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /wrote 7 problems \(split test, seed 5\) to .*: L2 4, L4 3/);
    const want = generateProblems({ levels: [2, 4], count: 7, seed: 5, split: 'test' });
    const read = [];
    for await (const p of readProblems(out)) read.push(p);
    assert.deepEqual(read, want.map(({ id, problem, answer, level }) => ({ id, problem, answer, level })));
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(Object.keys(lines[0]!), ['id', 'problem', 'answer', 'level', 'template']);
    // again, with solutions: the file is replaced whole, no temp file left behind
    const again = rstar(['--levels', '2,4', '--count', '7', '--seed', '5', '--split', 'test', '--out', out, '--with-solutions']);
    assert.equal(again.status, 0, again.stderr);
    const withSolutions = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as SyntheticProblem);
    assert.deepEqual(withSolutions, want);
    assert.deepEqual(readdirSync(join(root, 'sub')), ['p.jsonl']);
  });

  test('--pairs writes the perturbed PPM pairs, in the trainer\'s format, with a count by kind', () => {
    const out = join(root, 'pairs.jsonl');
    const r = rstar(['--levels', '3-5', '--count', '6', '--seed', '8', '--pairs', '2', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const want = [...perturbedPairs({ levels: [3, 4, 5], count: 6, seed: 8, split: 'train', perProblem: 2 })];
    assert.match(r.stderr, new RegExp(`wrote ${want.length} PPM pairs from 6 problems \\(split train, seed 8\\) to .*: swap \\d+, misread \\d+, skip \\d+, extra \\d+`));
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines, want);
    assert.deepEqual(Object.keys(lines[0]!), ['id', 'prompt', 'chosen', 'rejected', 'perturbation']);
  });

  test('bad options exit 2 with the reason, and write nothing', () => {
    for (const [args, why] of [
      [['--count', '2', '--pairs', '0'], /--pairs must be an integer >= 1/],
      [['--count', '2', '--pairs', '1', '--sft'], /--pairs writes pairs: it does not go with --sft/],
      [['--levels', '1-9', '--count', '3'], /levels must be 1\.\.6/],
      [['--count', '0'], /--count must be an integer >= 1/],
      [['--count', '2', '--seed', '1.5'], /--seed must be an integer/],
    ] as const) {
      const out = join(root, 'bad.jsonl');
      const r = rstar([...args, '--out', out]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, why);
      assert.ok(!readdirSync(root).includes('bad.jsonl'));
    }
    const r = rstar(['--count', '2', '--split', 'dev', '--out', join(root, 'bad.jsonl')]);
    assert.equal(r.status, 2, r.stderr);
  });
});
