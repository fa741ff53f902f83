// Training data from a hand-built tree: which trajectories become SFT examples, in which
// order, and which sibling steps become preference pairs (src/evolve/training-data.ts), and
// how a PPM's pair accuracy is counted (src/evolve/pair-accuracy.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ExportedNode, ExportedTree } from '../src/engine/export.js';
import type { Ppm } from '../src/engine/backend.js';
import { pairAccuracy } from '../src/evolve/pair-accuracy.js';
import { answerPairs, pairLine, preferencePairs, sftExamples, verifiedExamples, type StepPair } from '../src/evolve/training-data.js';
import { renderTrajectory } from '../src/format/step.js';

const node = (id: number, parent: number, step: string, Q: number, extra: Partial<ExportedNode> = {}): ExportedNode => ({
  id,
  parent,
  depth: 0,
  step,
  N: 1,
  Q,
  ppm: null,
  terminal: null,
  ...extra,
});
const closing = '<code>\nx = 2\nprint(x)\n<end_of_code>';
const answer = (v: string, correct: boolean) => ({ terminal: 'answer' as const, answer: v, correct });
const tree: ExportedTree = {
  id: 'p',
  problem: 'What is 1 + 1?',
  answer: '2',
  rollouts: 6,
  exhausted: false,
  solved: true,
  nodes: [
    node(0, -1, '', 0.2),
    node(1, 0, closing, 0.5, { output: '2\n' }),
    node(2, 0, '<code>\nx = 3\n<end_of_step>', -0.2),
    node(3, 0, '<code>\nx = 1 + 1\n<end_of_step>', 0.1),
    node(4, 1, '<answer>\\boxed{2}<end_of_answer>', 1, answer('2', true)),
    node(5, 1, '<answer>\\boxed{3}<end_of_answer>', -1, answer('3', false)),
    node(6, 2, '<answer>\\boxed{3}<end_of_answer>', -1, answer('3', false)),
    node(7, 3, '<answer>\\boxed{2}<end_of_answer>', 1, answer('2', true)),
    node(8, 3, 'print(x', -1, { terminal: 'invalid' }),
  ],
};

test('SFT: correct trajectories by mean then min step Q, outputs shown after block-closing steps', () => {
  const sft = sftExamples(tree);
  assert.deepEqual(sft.map((e) => [e.id, e.meanQ, e.minQ]), [['p#0', 0.75, 0.5], ['p#1', 0.55, 0.1]]);
  assert.equal(sft[0]!.query, 'What is 1 + 1?');
  assert.equal(sft[0]!.response, renderTrajectory([{ text: closing, output: '2\n' }]) + '<answer>\\boxed{2}<end_of_answer>');
  assert.match(sft[0]!.response, /<end_of_code>\n<output>2\n<end_of_output>\n<answer>/);
  assert.equal(sftExamples(tree, 1).length, 1);
  assert.deepEqual(sftExamples({ ...tree, nodes: tree.nodes.filter((n) => n.correct !== true) }), []);
});

test('SFT: a correct trajectory through a step whose code failed is not an example', () => {
  const failed = { ...tree, nodes: tree.nodes.map((n) => (n.id === 3 ? { ...n, output: 'NameError: y', codeError: true as const } : n)) };
  assert.deepEqual(sftExamples(failed).map((e) => e.id), ['p#0']);
  assert.equal(sftExamples(failed)[0]!.meanQ, 0.75, 'the clean trajectory through node 1');
});

test('reviewer data: every distinct clean verified trajectory, best ranked first; a text two branches reach is one example', () => {
  // node 9 repeats node 1's step under the root, and its answer repeats node 4's: the same trajectory text
  const twice = { ...tree, nodes: [...tree.nodes, node(9, 0, closing, 0.4, { output: '2\n' }), node(10, 9, '<answer>\\boxed{2}<end_of_answer>', 0.9, answer('2', true))] };
  assert.equal(sftExamples(twice, Infinity).length, 3, 'SFT ranks the repeat as a trajectory of its own');
  const all = verifiedExamples(twice);
  assert.deepEqual(all.map((e) => [e.id, e.meanQ]), [['p#0', 0.75], ['p#2', 0.55]]);
  assert.notEqual(all[0]!.response, all[1]!.response);
  assert.deepEqual(verifiedExamples({ ...tree, nodes: tree.nodes.filter((n) => n.correct !== true) }), []);
});

test('pairs: siblings with a correct vs a wrong answer below, Q_chosen > Q_rejected, one step under a shared prefix', () => {
  const pairs = preferencePairs(tree);
  assert.deepEqual(pairs.map((p) => p.id).sort(), ['p@0:1>2', 'p@0:3>2', 'p@1:4>5']);
  const root = pairLine(pairs.find((p) => p.id === 'p@0:1>2')!);
  assert.equal(root.prompt, 'What is 1 + 1?\n\n');
  assert.equal(root.chosen, closing);
  assert.equal(root.rejected, '<code>\nx = 3\n<end_of_step>');
  const innerSteps = pairs.find((p) => p.id === 'p@1:4>5')!;
  // as steps: what the engine's PPM scores (the search's request: the shown trajectory, then the step)
  assert.deepEqual([innerSteps.steps, innerSteps.chosen.length, innerSteps.problem.id], [[renderTrajectory([{ text: closing, output: '2\n' }])], 1, 'p']);
  const inner = pairLine(innerSteps);
  assert.equal(inner.prompt, 'What is 1 + 1?\n\n' + renderTrajectory([{ text: closing, output: '2\n' }]));
  assert.ok(pairs.every((p) => p.chosenQ > p.rejectedQ));
});

test('answer pairs: the 2 correct trajectories with the highest mean Q against the 2 wrong with the lowest, whole, under the question', () => {
  const pairs = answerPairs(tree);
  // correct: 4 (mean Q 0.75), 7 (0.55); wrong: 6 (-0.6), 5 (-0.25)
  assert.deepEqual(pairs.map((p) => p.id), ['p@answer:4>6', 'p@answer:4>5', 'p@answer:7>6', 'p@answer:7>5']);
  const first = pairLine(pairs[0]!);
  assert.equal(first.prompt, 'What is 1 + 1?\n\n');
  assert.deepEqual(pairs[0]!.steps, [], 'an answer pair is a whole trajectory under the question');
  assert.equal(first.chosen, renderTrajectory([{ text: closing, output: '2\n' }]) + '<answer>\\boxed{2}<end_of_answer>');
  assert.equal(first.rejected, '<code>\nx = 3\n<end_of_step><answer>\\boxed{3}<end_of_answer>');
  assert.deepEqual([first.chosenQ, first.rejectedQ], [0.75, -0.6]);
  assert.equal(answerPairs(tree, 1).length, 1);
  // no wrong answer (or no correct one): nothing to pair
  assert.deepEqual(answerPairs({ ...tree, nodes: tree.nodes.filter((n) => n.correct !== false) }), []);
  // the same trajectory text reached twice counts once
  const twice: ExportedTree = { ...tree, nodes: [...tree.nodes, node(9, 2, '<answer>\\boxed{3}<end_of_answer>', -1, answer('3', false))] };
  assert.equal(answerPairs(twice).filter((p) => p.id.endsWith('>9')).length, 0);
});

test('pairs: two per side, or up to four of one side when the other has one', () => {
  const kids = (n: number, correct: boolean, q0: number) => Array.from({ length: n }, (_, i) => node(0, 0, `s${correct}${i}`, q0 + (correct ? -i : i) * 0.01, answer('x', correct)));
  const build = (good: number, bad: number): ExportedTree => {
    const nodes = [node(0, -1, '', 0), ...kids(good, true, 0.9), ...kids(bad, false, -0.9)].map((n, id) => ({ ...n, id }));
    return { ...tree, nodes };
  };
  assert.equal(preferencePairs(build(5, 5)).length, 4);
  assert.equal(preferencePairs(build(1, 5)).length, 4);
  assert.equal(preferencePairs(build(5, 1)).length, 4);
  assert.equal(preferencePairs(build(1, 1)).length, 1);
  assert.equal(preferencePairs(build(3, 0)).length, 0);
});

test('rstar data select writes both files and names a bad line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rstar-select-'));
  try {
    const trees = join(dir, 'trees.jsonl');
    writeFileSync(trees, JSON.stringify(tree) + '\n' + JSON.stringify({ ...tree, id: 'q', solved: false, nodes: tree.nodes.slice(0, 4) }) + '\n');
    const cli = ['--import', 'tsx', new URL('../src/cli/main.ts', import.meta.url).pathname, 'data', 'select'];
    const ok = spawnSync(process.execPath, [...cli, '--trees', trees, '--sft', join(dir, 'sft.jsonl'), '--pairs', join(dir, 'pairs.jsonl')], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /2 trees \(1 solved\): 2 SFT examples .*7 preference pairs \(4 of whole trajectories\)/);
    const sft = readFileSync(join(dir, 'sft.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { query: string });
    assert.equal(sft.length, 2);
    assert.equal(readFileSync(join(dir, 'pairs.jsonl'), 'utf8').trim().split('\n').length, 7);
    const steps = spawnSync(process.execPath, [...cli, '--trees', trees, '--pairs', join(dir, 'steps.jsonl'), '--no-answer-pairs'], { encoding: 'utf8' });
    assert.equal(steps.status, 0, steps.stderr);
    assert.equal(readFileSync(join(dir, 'steps.jsonl'), 'utf8').trim().split('\n').length, 3);
    writeFileSync(trees, JSON.stringify(tree) + '\n{"id": "x", "problem": "?"}\n');
    const bad = spawnSync(process.execPath, [...cli, '--trees', trees, '--sft', join(dir, 'sft2.jsonl')], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /trees\.jsonl:2: field "answer" is missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pair accuracy: each side asked as the search asks (the trajectory, then the continuation); ties and refusals counted apart", async () => {
  const asked: string[][] = [];
  // a PPM that values a step by the number after "v", and refuses a step holding "long"
  const ppm: Ppm = {
    name: 'fake',
    score: async (requests) =>
      requests.map((r) => {
        asked.push([...r.steps]);
        const last = r.steps.at(-1)!;
        return last.includes('long') ? { refused: 'prompt too long' } : Number(/v(-?[\d.]+)/.exec(last)![1]);
      }),
  };
  const problem = { id: 'p', problem: 'q', answer: '1' };
  const pair = (id: string, chosen: string, rejected: string): StepPair => ({ id, problem, steps: ['s1'], chosen: [chosen], rejected: [rejected], chosenQ: 1, rejectedQ: 0 });
  const pairs = [pair('a', 'v0.5', 'v0.1'), pair('b', 'v0.1', 'v0.5'), pair('c', 'v0.3', 'v0.3'), pair('d', 'v0.9', 'long'), pair('e', 'v0.2', 'v-0.4')];
  // batches of 2 pairs: the last batch is short
  assert.deepEqual(await pairAccuracy(ppm, pairs, 2), { accuracy: 2 / 4, pairs: 5, ties: 1, refused: 1 });
  assert.deepEqual(asked.slice(0, 2), [['s1', 'v0.5'], ['s1', 'v0.1']]);
  assert.equal(asked.length, 10);
  // an answer pair: whole trajectories under the question
  asked.length = 0;
  await pairAccuracy(ppm, [{ ...pair('f', '', ''), steps: [], chosen: ['x', 'v1'], rejected: ['y', 'v0'] }]);
  assert.deepEqual(asked, [['x', 'v1'], ['y', 'v0']]);
});
