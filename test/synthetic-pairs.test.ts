// PPM pairs from perturbed reference solutions: Python's integer arithmetic, pairs that sit
// on the gold text, wrong trajectories that the real executor confirms, and determinism.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateProblems } from '../src/data/synthetic.js';
import { evaluate, perturbations, perturbedPairs, type PerturbedPair } from '../src/data/synthetic-pairs.js';
import { ExecutorPool } from '../src/verify/executor-pool.js';
import { blockProgram, lastBoxed, splitTrajectory, stepCode } from '../src/format/step.js';
import { pythonSkip } from './python-skip.js';

const options = { levels: [1, 2, 3, 4, 5, 6], count: 60, seed: 11, perProblem: 3 };

test('evaluate: integer + - * // as Python computes them', () => {
  assert.equal(evaluate('2 + 3 * 4'), 14);
  assert.equal(evaluate('65 - 65 * 60 // 100'), 26);
  assert.equal(evaluate('7 // 2'), 3);
  assert.equal(evaluate('(-7) // 2'), -4); // floor, not truncation
  assert.equal(evaluate('320 - (-118)'), 438);
  assert.equal(evaluate('100 - 4 - 3'), 93); // left to right
  assert.throws(() => evaluate('x + 1'), /cannot evaluate "x \+ 1"/);
  assert.throws(() => evaluate('5 // 0'), /cannot evaluate/);
  assert.throws(() => evaluate('2 ** 3'), /cannot evaluate/);
});

test('pairs sit on the gold solution: the same problems, a shared prefix, a step that differs', () => {
  const problems = new Map(generateProblems(options).map((p) => [p.id, p]));
  const pairs = [...perturbedPairs(options)];
  assert.ok(pairs.length >= 250, `${pairs.length} pairs from 60 problems x 3`);
  const kinds = new Set(pairs.map((p) => p.perturbation));
  assert.deepEqual([...kinds].sort(), [...perturbations].sort());
  assert.equal(new Set(pairs.map((p) => p.id)).size, pairs.length);
  for (const p of pairs) {
    const problem = problems.get(p.id.slice(0, p.id.indexOf('~')))!;
    assert.ok(problem, p.id);
    const question = `${problem.problem}\n\n`;
    assert.notEqual(p.chosen, p.rejected, p.id);
    if (p.id.endsWith('@answer')) {
      assert.equal(p.prompt, question);
      assert.equal(p.chosen, problem.solution);
      assert.notEqual(lastBoxed(p.rejected), problem.answer, `${p.id}: a wrong trajectory must not reach the gold answer`);
    } else {
      // the gold steps before the pair's step, then the gold step: a prefix of the gold text
      assert.ok((question + problem.solution).startsWith(p.prompt + p.chosen), p.id);
      assert.ok(p.prompt.startsWith(question), p.id);
    }
  }
});

test('the same options give the same pairs, and other seeds other pairs', () => {
  const a = JSON.stringify([...perturbedPairs(options)]);
  assert.equal(JSON.stringify([...perturbedPairs(options)]), a);
  assert.notEqual(JSON.stringify([...perturbedPairs({ ...options, seed: 12 })]), a);
  assert.throws(() => [...perturbedPairs({ ...options, perProblem: 0 })], /perProblem must be an integer >= 1/);
});

describe('wrong trajectories are real', { skip: pythonSkip }, () => {
  let pool: ExecutorPool;
  before(() => {
    pool = new ExecutorPool({ workers: 2, timeoutS: 5, memoryMb: 256, outputChars: 10_000, keepChars: 1000 });
  });
  after(() => pool.close());

  test('their code runs, prints the output block they show, and boxes that value', async () => {
    const answers: PerturbedPair[] = [...perturbedPairs({ ...options, split: 'test' })].filter((p) => p.id.endsWith('@answer'));
    const programs = answers.map((p) => {
      const steps = splitTrajectory(p.rejected);
      const print = steps.findIndex((s) => s.output !== undefined);
      assert.ok(print > 0, p.id);
      return { program: blockProgram(steps.slice(0, print).map((s) => s.text), stepCode(steps[print]!.text)).program, shown: steps[print]!.output };
    });
    const results = await pool.execute(programs.map(({ program }) => ({ program })));
    results.forEach((r, i) => {
      const { id, rejected } = answers[i]!;
      assert.equal(r.ok, true, `${id}: ${r.message}`);
      assert.equal(r.stdout, programs[i]!.shown, id);
      assert.equal(lastBoxed(rejected), r.stdout.trim(), id);
    });
  });
});
