// `rstar evolve` end to end with the shipped models on a few synthetic problems, through the
// real command: mostly trained by the external-command contract (a "trainer" that copies
// models: this tests the loop, its files and its resume, not learning), and by the builtin
// trainer for a few steps, once per PPM kind (it has its own tests in trainer/tests).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pairLine, type StepPair } from '../src/evolve/training-data.js';
import { pythonSkip, torchSkip, trainPython } from './python-skip.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'rstar-evolve-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

function rstar(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });
}

const jsonl = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

const config = join(root, 'evolve.json');
before(() => {
  // hard enough for the shipped policy to get some wrong at temperature 1.2: PPM pairs
  for (const [name, levels, split, count] of [['pool', '4-5', 'train', 6], ['heldout', '1-3', 'test', 3], ['easy', '1', 'train', 1]] as const) {
    const r = rstar(['data', 'synth-problems', '--levels', levels, '--count', String(count), '--seed', '3', '--split', split, '--out', join(root, `${name}.jsonl`)]);
    assert.equal(r.status, 0, r.stderr);
  }
  writeFileSync(
    config,
    JSON.stringify({
      pool: [join(root, 'pool.jsonl')],
      eval: [join(root, 'heldout.jsonl'), join(root, 'easy.jsonl')],
      policy: `onnx:${join(repoRoot, 'models', 'policy')}`,
      rounds: 2,
      rollouts: 4,
      n: 3,
      temperature: 1.2,
      evalRollouts: 2,
      evalN: 2,
      heldOutPairs: 0.3,
      concurrency: 4,
      threads: 1,
      device: 'cpu',
      trainer: 'command',
      // the "trained" model keeps the data it was given, to check what a command trainer gets
      policyCommand: 'cp -r {base} {out}.tmp && cp {data} {out}.tmp/trained-on.jsonl && mv {out}.tmp {out}',
      ppmCommand: `cp -r '${join(repoRoot, 'models', 'ppm')}' {out}.tmp && cp {data} {out}.tmp/trained-on.jsonl && mv {out}.tmp {out}`,
    }),
  );
});

test('two rounds: every stage writes its files, the report has a line per round, and a rerun does nothing twice', { skip: pythonSkip }, () => {
  const out = join(root, 'run');
  const r = rstar(['evolve', '--config', config, '--out', out, '--no-progress']);
  assert.equal(r.status, 0, r.stderr);
  for (const stage of ['synth', 'select', 'train', 'eval']) assert.match(r.stderr, new RegExp(`round 2/2 ${stage}`));

  const state = JSON.parse(readFileSync(join(out, 'state.json'), 'utf8')) as { rounds: Record<string, Record<string, unknown>> };
  assert.deepEqual(Object.keys(state.rounds), ['1', '2']);
  assert.equal((state.rounds['1']!['settings'] as { ppm: boolean }).ppm, false, 'round 1 is terminal-guided');
  assert.equal((state.rounds['2']!['settings'] as { ppm: boolean }).ppm, true, 'round 2 searches with the PPM');
  assert.equal(JSON.parse(readFileSync(join(out, 'round-2', 'synth', 'run.json'), 'utf8')).ppm, `onnx:${join(out, 'round-1', 'ppm')}`);

  // the exports have the documented shapes
  const data = join(out, 'round-1', 'data');
  const sft = jsonl(join(data, 'sft.prompt-completion.jsonl'));
  assert.ok(sft.length > 0);
  for (const row of sft) {
    assert.deepEqual(Object.keys(row).sort(), ['completion', 'prompt']);
    assert.ok(typeof row['prompt'] === 'string' && String(row['completion']).endsWith('<end_of_answer>'));
  }
  for (const row of jsonl(join(data, 'pairs.prompt-chosen-rejected.jsonl'))) {
    assert.deepEqual(Object.keys(row).sort(), ['chosen', 'prompt', 'rejected']);
    assert.ok(Object.values(row).every((v) => typeof v === 'string'));
  }
  // a command trainer gets the rows trainers load, not the builtin trainer's lines
  assert.equal(readFileSync(join(out, 'round-1', 'policy', 'trained-on.jsonl'), 'utf8'), readFileSync(join(data, 'sft.prompt-completion.jsonl'), 'utf8'));
  assert.equal(readFileSync(join(out, 'round-1', 'ppm', 'trained-on.jsonl'), 'utf8'), readFileSync(join(data, 'pairs.prompt-chosen-rejected.jsonl'), 'utf8'));
  // the held-out pairs as steps (what the engine scores) are the held-out pairs the trainer reads
  const asSteps = jsonl(join(data, 'pairs.heldout.steps.jsonl'));
  assert.ok(asSteps.length > 0);
  assert.deepEqual(asSteps.map((p) => pairLine(p as unknown as StepPair)), jsonl(join(data, 'pairs.heldout.jsonl')));
  const stepwise = jsonl(join(data, 'stepwise.jsonl'));
  assert.ok(stepwise.length > 0);
  for (const row of stepwise) {
    assert.deepEqual(Object.keys(row).sort(), ['completions', 'labels', 'prompt']);
    const { completions, labels } = row as { completions: unknown[]; labels: unknown[] };
    assert.ok(completions.length > 0 && completions.length === labels.length);
    assert.ok(completions.every((c) => typeof c === 'string') && labels.every((l) => typeof l === 'boolean'));
  }
  assert.ok(stepwise.some((row) => (row['labels'] as boolean[]).at(-1) === false), 'a wrong trajectory ends in a false label');

  const rounds = jsonl(join(out, 'rounds.jsonl'));
  assert.deepEqual(rounds.map((l) => l['round']), [1, 2]);
  for (const l of rounds) {
    assert.ok((l['poolSolvedShare'] as number) > 0 && (l['poolSolvedShare'] as number) <= 1);
    // the pool's levels 4 and 5, 3 problems each: the shares by level make up the whole
    const byLevel = l['poolSolvedByLevel'] as Record<string, number>;
    assert.deepEqual(Object.keys(byLevel).sort(), ['4', '5']);
    assert.ok(Math.abs((byLevel['4']! + byLevel['5']!) / 2 - (l['poolSolvedShare'] as number)) < 1e-9);
    // the engine scored the held-out pairs with the round's PPM (a copy of the shipped reviewer); a command trainer measures none
    assert.ok(typeof l['ppmPairAccuracy'] === 'number' && l['ppmPairAccuracyTrainer'] === null);
    const e = (l['eval'] as Record<string, { greedy: { accuracy: number }; mcts: { accuracy: number; majorityAccuracy: number; goldFoundShare: number } }>)['heldout']!;
    assert.ok(e.greedy.accuracy >= 0 && e.mcts.accuracy >= 0);
    // no choice among the answers found beats finding the gold one
    assert.ok(e.mcts.goldFoundShare >= Math.max(e.mcts.accuracy, e.mcts.majorityAccuracy));
  }
  const report = readFileSync(join(out, 'REPORT.md'), 'utf8');
  assert.match(report, /\| 2 \| 4 rollouts, n 3, PPM \|/);
  assert.match(report, /## Pool solved % by level[\s\S]*\| round \| level 4 \| level 5 \|/);
  // round 0: the bootstrap policy greedy, where the curve starts
  const baseline = (state as unknown as { baseline: { sets: Record<string, { problems: number }> } }).baseline;
  assert.equal(baseline.sets['heldout']!.problems, 3);
  assert.match(report, /\| 0 \(bootstrap\) \| [\d.]+ \/ \|/);
  assert.match(report, /\| MCTS majority vote \| MCTS gold found \|\n/);
  assert.ok(existsSync(join(out, 'round-0', 'eval', 'heldout.greedy', 'results.jsonl')));
  // the plot: the first eval set by level, each further one as a whole
  const svg = readFileSync(join(out, 'plot.svg'), 'utf8');
  assert.match(svg, /^<svg [^>]*>[\s\S]*<path d="M/);
  for (const name of ['pool solved', 'heldout L1 MCTS', 'heldout L3 greedy', 'easy MCTS', 'easy greedy']) assert.ok(svg.includes(`>${name}</text>`), `${name} not in ${[...svg.matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1]).join(', ')}`);
  assert.doesNotMatch(svg, /easy L1/);

  // a rerun has nothing left: the same files, no line twice
  const before = ['rounds.jsonl', 'round-1/synth/trees.jsonl', 'round-2/eval/heldout.mcts/results.jsonl'].map((f) => readFileSync(join(out, f), 'utf8'));
  const again = rstar(['evolve', '--config', config, '--out', out, '--no-progress']);
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /round \d\/2 synth/);
  assert.deepEqual(['rounds.jsonl', 'round-1/synth/trees.jsonl', 'round-2/eval/heldout.mcts/results.jsonl'].map((f) => readFileSync(join(out, f), 'utf8')), before);

  // a changed setting of a round that ran is refused, naming it; a third round is fine to add
  const changed = rstar(['evolve', '--config', config, '--out', out, '--no-progress', '--rollouts', '5']);
  assert.equal(changed.status, 2);
  assert.match(changed.stderr, /round 1 ran with rollouts = 4, not 5/);
});

test('killed in the middle of a round, a rerun finishes it with every problem once', { skip: pythonSkip }, async () => {
  const out = join(root, 'killed');
  const child = spawn(process.execPath, [cli, 'evolve', '--config', config, '--out', out, '--no-progress', '--rounds', '1'], { cwd: root, stdio: 'ignore' });
  const trees = join(out, 'round-1', 'synth', 'trees.jsonl');
  const deadline = Date.now() + 120_000;
  while (!(existsSync(trees) && readFileSync(trees, 'utf8').length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const r = rstar(['evolve', '--config', config, '--out', out, '--no-progress', '--rounds', '1']);
  assert.equal(r.status, 0, r.stderr);
  const ids = jsonl(trees).map((t) => t['id']);
  assert.equal(new Set(ids).size, ids.length, 'a problem written twice');
  assert.equal(ids.length, 6);
  assert.equal(jsonl(join(out, 'rounds.jsonl')).length, 1);
});

test('SIGTERM stops a round cleanly (exit 143, what was searched kept); a rerun finishes it', { skip: pythonSkip }, async () => {
  const out = join(root, 'term');
  const child = spawn(process.execPath, [cli, 'evolve', '--config', config, '--out', out, '--no-progress', '--rounds', '1'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const trees = join(out, 'round-1', 'synth', 'trees.jsonl');
  const deadline = Date.now() + 120_000;
  while (!(existsSync(trees) && readFileSync(trees, 'utf8').length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('exit', (c) => r(c)));
  assert.equal(code, 143, stderr);
  assert.match(stderr, /run the same command again to resume/);
  const kept = jsonl(trees).length;
  assert.ok(kept >= 1);
  const r = rstar(['evolve', '--config', config, '--out', out, '--no-progress', '--rounds', '1']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`resuming: ${kept} problems already`));
  assert.equal(jsonl(trees).length, 6);
});

test("the builtin trainer: two rounds of a few training steps, each round's models trained from the right bases", { skip: pythonSkip || torchSkip, timeout: 600_000 }, () => {
  const out = join(root, 'builtin');
  const fields = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
  const builtin = join(root, 'builtin.json');
  const tiny = { epochs: 1, batch_size: 4, threads: 1 };
  writeFileSync(builtin, JSON.stringify({ ...fields, trainer: 'builtin', policyCommand: undefined, ppmCommand: undefined, python: trainPython, trainPolicy: { ...tiny, lr: 1e-4 }, trainPpm: tiny }));
  const r = rstar(['evolve', '--config', builtin, '--out', out, '--no-progress']);
  assert.equal(r.status, 0, r.stderr);
  const bootstrap = join(repoRoot, 'models', 'policy');
  for (const round of [1, 2]) {
    const dir = join(out, `round-${round}`);
    const policy = JSON.parse(readFileSync(join(dir, 'train', 'policy.json'), 'utf8')) as Record<string, unknown>;
    const ppm = JSON.parse(readFileSync(join(dir, 'train', 'ppm.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(policy['base'], bootstrap, 'each round fine-tunes the bootstrap');
    assert.equal(ppm['base'], join(dir, 'policy'), "the PPM starts from this round's policy");
    for (const model of ['policy', 'ppm']) assert.equal((JSON.parse(readFileSync(join(dir, model, 'metrics.json'), 'utf8')) as { status: string }).status, 'completed');
  }
  const rounds = jsonl(join(out, 'rounds.jsonl'));
  assert.equal(rounds.length, 2);
  for (const l of rounds) assert.ok(typeof l['ppmPairAccuracy'] === 'number' && typeof l['ppmPairAccuracyTrainer'] === 'number', 'the engine and the PPM trainer measured pair accuracy');
  assert.equal(JSON.parse(readFileSync(join(out, 'round-2', 'synth', 'run.json'), 'utf8')).policy, `onnx:${join(out, 'round-1', 'policy')}`);
});

test('a reviewer PPM: trained by the builtin trainer on every verified trajectory (reviewerTrajectories all) and the extra data, measured on the pairs by the engine; the policy on its extra data', { skip: pythonSkip || torchSkip, timeout: 600_000 }, () => {
  const out = join(root, 'reviewer');
  const fields = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
  const extra = join(root, 'reviewer-extra.jsonl');
  assert.equal(rstar(['data', 'synth-problems', '--levels', '1-2', '--count', '4', '--seed', '9', '--split', 'train', '--sft', '--out', extra]).status, 0);
  const file = join(root, 'reviewer.json');
  const tiny = { epochs: 1, batch_size: 4, threads: 1 };
  writeFileSync(file, JSON.stringify({ ...fields, rounds: 1, trainer: 'builtin', policyCommand: undefined, ppmCommand: undefined, python: trainPython, trainPolicy: tiny, trainPpm: tiny, ppmKind: 'reviewer', reviewerTrajectories: 'all', ppmData: [extra], policyData: [extra] }));
  const r = rstar(['evolve', '--config', file, '--out', out, '--no-progress']);
  assert.equal(r.status, 0, r.stderr);
  const dir = join(out, 'round-1');
  const task = JSON.parse(readFileSync(join(dir, 'train', 'reviewer.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([task['task'], task['reviewer'], task['base'], task['data']], ['sft', true, join(dir, 'policy'), [join(dir, 'data', 'reviewer.jsonl'), extra]]);
  // every SFT trajectory is among the reviewer's, each text once
  const reviewed = jsonl(join(dir, 'data', 'reviewer.jsonl')).map((e) => `${e['query']}\n${e['response']}`);
  assert.equal(new Set(reviewed).size, reviewed.length);
  for (const e of jsonl(join(dir, 'data', 'sft.jsonl'))) assert.ok(reviewed.includes(`${e['query']}\n${e['response']}`), String(e['id']));
  const policyTask = JSON.parse(readFileSync(join(dir, 'train', 'policy.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([policyTask['task'], policyTask['data']], ['sft', [join(dir, 'data', 'sft.jsonl'), extra]]);
  assert.equal((JSON.parse(readFileSync(join(dir, 'ppm', 'config.json'), 'utf8')) as { rstar_ppm: { output: string } }).rstar_ppm.output, 'reviewer');
  const [line] = jsonl(join(out, 'rounds.jsonl'));
  assert.ok(typeof line!['ppmPairAccuracy'] === 'number' && line!['ppmPairAccuracyTrainer'] === null);
  assert.equal(line!['reviewerExamples'], reviewed.length);
  assert.match(readFileSync(join(out, 'REPORT.md'), 'utf8'), /PPM: reviewer/);
});

test('an unsolved-only round searches the problems no round solved and trains on every solved problem', { skip: pythonSkip }, () => {
  const out = join(root, 'unsolved');
  const fields = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
  const file = join(root, 'unsolved.json');
  // seeded: the same problems solved in round 1 on every run
  writeFileSync(file, JSON.stringify({ ...fields, eval: [], seed: 5, round: { '2': { problems: 'unsolved', rollouts: 8 } } }));
  const r = rstar(['evolve', '--config', file, '--out', out, '--no-progress']);
  assert.equal(r.status, 0, r.stderr);
  const trees = (k: number) => jsonl(join(out, `round-${k}`, 'synth', 'trees.jsonl')) as { id: string; solved: boolean }[];
  const solvedFirst = trees(1).filter((t) => t.solved).map((t) => t.id).sort();
  assert.ok(solvedFirst.length > 0 && solvedFirst.length < 6, `round 1 solved ${solvedFirst.length} of 6`);
  assert.deepEqual(trees(2).map((t) => t.id).sort(), trees(1).filter((t) => !t.solved).map((t) => t.id).sort(), 'round 2 searched the rest');
  const problemsIn = (k: number) => [...new Set(jsonl(join(out, `round-${k}`, 'data', 'sft.jsonl')).map((e) => String(e['id']).split('#')[0]!))].sort();
  const solvedSecond = trees(2).filter((t) => t.solved).map((t) => t.id);
  assert.deepEqual(problemsIn(2), [...solvedFirst, ...solvedSecond].sort(), "round 2 trains on round 1's solved problems and its own");
  // round 1's examples of those problems, as round 1 selected them
  const first = jsonl(join(out, 'round-1', 'data', 'sft.jsonl'));
  const second = jsonl(join(out, 'round-2', 'data', 'sft.jsonl'));
  for (const e of first) assert.ok(second.some((x) => x['id'] === e['id'] && x['response'] === e['response']), String(e['id']));
});

test('a server policy: the serve command serves each stage\'s weights at the URL and stops before training', { skip: pythonSkip }, async () => {
  const out = join(root, 'served');
  const port = await freePort();
  const fields = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
  const served = join(root, 'served.json');
  writeFileSync(
    served,
    JSON.stringify({
      ...fields,
      rounds: 1,
      policy: `openai:http://127.0.0.1:${port}/v1#policy`,
      weights: join(repoRoot, 'models', 'policy'),
      serve: `'${process.execPath}' '${cli}' serve --policy onnx:{model} --port ${port} --model-name policy --threads 1`,
      serveTimeout: 120,
      maxTokens: 256,
    }),
  );
  const r = rstar(['evolve', '--config', served, '--out', out, '--no-progress']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(out, 'round-1', 'synth', 'run.json'), 'utf8')).policy, `openai:http://127.0.0.1:${port}/v1#policy`);
  assert.equal(jsonl(join(out, 'round-1', 'synth', 'trees.jsonl')).length, 6);
  // round 0 and the search served the bootstrap; the eval served round 1's policy; each stopped
  const log = (f: string) => readFileSync(join(out, f), 'utf8');
  assert.match(log('round-0/serve.log'), new RegExp(`serving ${join(repoRoot, 'models', 'policy')} as "policy"[\\s\\S]*SIGTERM: stopping`));
  const round1 = log('round-1/serve.log').split('\n').filter((l) => l.startsWith('rstar: serving'));
  assert.deepEqual(round1.map((l) => l.split(' ')[2]), [join(repoRoot, 'models', 'policy'), join(out, 'round-1', 'policy')]);
  assert.equal(log('round-1/serve.log').match(/SIGTERM: stopping the server/g)?.length, 2);
  await assert.rejects(fetch(`http://127.0.0.1:${port}/v1/models`), 'no server is left running');

  // a serve command that never answers is stopped after serveTimeout, naming its log
  writeFileSync(served, JSON.stringify({ ...JSON.parse(readFileSync(served, 'utf8')), serve: 'sleep 30 # {model}', serveTimeout: 1 }));
  const t = rstar(['evolve', '--config', served, '--out', join(root, 'never'), '--no-progress']);
  assert.equal(t.status, 2, t.stderr);
  assert.match(t.stderr, /models did not answer within 1 s of starting the serve command \(serveTimeout\); its output is in .*round-0\/serve\.log/);
});

/** A TCP port nothing listens on now. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((done) => probe.close(() => done()));
  return port;
}

test('a bad config is refused before anything is written, naming the field', () => {
  const bad = join(root, 'bad.json');
  for (const [fields, message] of [
    [{ pool: ['x.jsonl'], policy: 'onnx:x', rolloutz: 3 }, /unknown field "rolloutz"/],
    [{ pool: ['x.jsonl'], policy: 'onnx:x', rollouts: 0 }, /field "rollouts" must be an integer >= 1 \(got 0\)/],
    [{ pool: ['x.jsonl'], policy: 'onnx:x', round: { '3': { n: 2 } }, rounds: 2 }, /field "round": "3" is not a round \(1\.\.2\)/],
    [{ pool: ['x.jsonl'], policy: 'onnx:x', round: { '2': { problems: 'some' } } }, /field "round"\."2"\."problems" must be one of all, unsolved/],
    [{ policy: 'onnx:x' }, /field "pool" must be given/],
    [{ pool: ['x.jsonl'], policy: 'onnx:x', trainer: 'command' }, /needs field "policyCommand" and field "ppmCommand"/],
    [{ pool: ['x.jsonl'], policy: 'onnx:x', ppm: true }, /round 1 cannot search with a PPM/],
    [{ pool: ['x.jsonl'], policy: 'onnx:x', ppmKind: 'reviewer', trainer: 'command', policyCommand: 'x', ppmCommand: 'y' }, /field "ppmKind": a reviewer is trained by the builtin trainer/],
    [{ pool: ['x.jsonl'], policy: 'onnx:x', ppmKind: 'value' }, /field "ppmKind" must be one of pairwise, reviewer/],
    [{ pool: ['x.jsonl'], policy: 'onnx:x', policyData: ['r.jsonl'], trainer: 'command', policyCommand: 'x', ppmCommand: 'y' }, /field "policyData" is for the builtin trainer/],
    [{ pool: ['x.jsonl'], policy: 'vllm:x' }, /field "policy" must be onnx:DIR or openai:URL#MODEL \(got vllm:x\)/],
    [{ pool: ['x.jsonl'], policy: 'openai:http://127.0.0.1:1/v1#m', weights: 'w' }, /a server policy needs field "serve"/],
    [{ pool: ['x.jsonl'], policy: 'openai:http://127.0.0.1:1/v1#m', serve: 'vllm serve {model}' }, /a server policy needs field "weights"/],
  ] as const) {
    writeFileSync(bad, JSON.stringify(fields));
    const out = join(root, 'bad-out');
    const r = rstar(['evolve', '--config', bad, '--out', out]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(r.stderr.includes(bad), 'the message names the file');
    assert.equal(existsSync(out), false);
  }
});
