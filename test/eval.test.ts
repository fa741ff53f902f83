// `rstar eval` end to end with the shipped models (models/), the real executor and grader:
// greedy and PPM-guided search, results and summary by level, resuming, and --trees.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateProblems } from '../src/data/synthetic.js';
import type { ExportedTree } from '../src/engine/export.js';
import type { EvalResult } from '../src/run/evaluate.js';
import { pythonSkip } from './python-skip.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'rstar-eval-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

const problems = join(root, 'problems.jsonl');
writeFileSync(problems, generateProblems({ levels: [1, 2], count: 4, seed: 7 }).map((p) => JSON.stringify({ id: p.id, problem: p.problem, answer: p.answer, level: p.level }) + '\n').join(''));

function rstar(args: string[]) {
  const r = spawnSync(process.execPath, [cli, 'eval', '--problems', problems, '--max-tokens', '160', '--no-progress', ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return r;
}
const lines = <T>(file: string): T[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

describe('rstar eval', { skip: pythonSkip }, () => {
  test('greedy: a result per problem, a summary by level, and a rerun resumes with nothing left', () => {
    const out = join(root, 'greedy');
    const r = rstar(['--out', out, '--greedy']);
    const results = lines<EvalResult>(join(out, 'results.jsonl'));
    assert.deepEqual(results.map((x) => x.id).sort(), ['syn-L1-7-0', 'syn-L1-7-1', 'syn-L2-7-0', 'syn-L2-7-1']);
    for (const x of results) {
      assert.match(x.trajectory, /<answer>.*\\boxed\{/s, `${x.id}: no boxed answer in ${x.trajectory}`);
      assert.equal(x.correct, x.answer === x.gold, `${x.id}: ${x.answer} vs ${x.gold}`);
      assert.equal(Object.values(x.votes).reduce((a, b) => a + b, 0), 1, 'greedy: one answer');
      assert.equal(x.goldFound, x.correct, 'greedy: the one answer found is the one chosen');
    }
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { problems: number; correct: number; byLevel: Record<string, { problems: number; correct: number }> };
    assert.equal(summary.problems, 4);
    assert.equal(summary.correct, results.filter((x) => x.correct).length);
    assert.deepEqual(Object.keys(summary.byLevel).sort(), ['1', '2']);
    assert.match(r.stderr, new RegExp(`${summary.correct}/4 correct`));
    rstar(['--out', out, '--greedy']);
    assert.equal(lines(join(out, 'results.jsonl')).length, 4, 'a rerun adds nothing');
  });

  test('search with the PPM: --trees writes each tree, whose answer nodes give the votes and the PPM choice', () => {
    const out = join(root, 'mcts');
    rstar(['--out', out, '--rollouts', '2', '--n', '2', '--temperature', '1', '--seed', '1', '--trees']);
    const results = lines<EvalResult>(join(out, 'results.jsonl'));
    const trees = new Map(lines<ExportedTree>(join(out, 'trees.jsonl')).map((t) => [t.id, t]));
    assert.equal(results.length, 4);
    for (const x of results) {
      const t = trees.get(x.id)!;
      assert.ok(t, `${x.id}: no tree`);
      assert.equal(t.nodes.length, x.nodes);
      const answers = t.nodes.filter((n) => n.terminal === 'answer');
      const votes: Record<string, number> = {};
      for (const n of answers) votes[n.answer!] = (votes[n.answer!] ?? 0) + 1;
      assert.deepEqual(x.votes, votes);
      // the gold is never used in the search: no answer node carries a grade
      assert.ok(answers.every((n) => n.correct === false || n.correct === undefined), `${x.id}: graded during the search`);
      if (answers.length > 0) assert.equal(x.score, Math.max(...answers.map((n) => n.ppm!)));
      // integer answers here: graded equal exactly when the strings are
      assert.equal(x.goldFound, x.gold in x.votes, `${x.id}: gold ${x.gold} among ${Object.keys(x.votes)}`);
      if (x.correct || x.majorityCorrect) assert.ok(x.goldFound);
    }
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { goldFound: number; goldFoundShare: number };
    assert.equal(summary.goldFound, results.filter((x) => x.goldFound).length);
    assert.equal(summary.goldFoundShare, summary.goldFound / 4);
  });
});
