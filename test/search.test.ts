import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExportedTree } from '../src/engine/export.js';
import type { SearchBackends } from '../src/engine/backend.js';
import type { SearchOptions } from '../src/engine/options.js';
import { Search } from '../src/engine/search.js';
import { runSearchBench, searchBenchDefaults } from '../src/bench/search-bench.js';
import type { Problem } from '../src/io/problems.js';
import { SimPolicy } from '../src/sim/policy.js';
import { SimPpm } from '../src/sim/ppm.js';
import { ExactGrader } from '../src/grade/exact-grader.js';
import { SimVerifier } from '../src/sim/verifier.js';

function problems(count: number): Problem[] {
  return Array.from({ length: count }, (_, i) => ({ id: `p${i}`, problem: `problem ${i}`, answer: String(10 + i) }));
}

async function* stream(items: Problem[]): AsyncGenerator<Problem> {
  for (const p of items) yield p;
}

function backends(o: { latencyMs?: number; ppm?: boolean; seed?: number; pCorrect?: number } = {}): SearchBackends {
  const sim = { seed: o.seed ?? 1, latencyMs: o.latencyMs ?? 0, ...(o.pCorrect === undefined ? {} : { pCorrect: o.pCorrect }) };
  return {
    policy: new SimPolicy(sim),
    ...(o.ppm ? { ppm: new SimPpm({ seed: sim.seed, latencyMs: sim.latencyMs }) } : {}),
    verifier: new SimVerifier(),
    grader: new ExactGrader(),
  };
}

async function run(count: number, options: Partial<SearchOptions>, b = backends()) {
  const trees: ExportedTree[] = [];
  const search = new Search(options, b, ({ tree }) => {
    trees.push(tree);
  });
  const stats = await search.run(stream(problems(count)));
  return { trees, stats, search };
}

function checkTree(t: ExportedTree, rollouts: number): void {
  assert.ok(t.rollouts <= rollouts, `${t.id}: ${t.rollouts} rollouts > ${rollouts}`);
  if (!t.exhausted) assert.equal(t.rollouts, rollouts, `${t.id}: not exhausted, so every rollout must complete`);
  const root = t.nodes[0]!;
  assert.equal(root.parent, -1);
  // Round 1 (no PPM): a node's N counts the graded answers below it (and itself when terminal).
  for (const node of t.nodes.slice(1)) {
    const parent = t.nodes[node.parent]!;
    assert.equal(node.depth, parent.depth + 1);
    if (node.Q !== null) assert.ok(node.Q >= -1 && node.Q <= 1);
    if (node.terminal === 'answer') {
      assert.equal(typeof node.correct, 'boolean');
      assert.equal(node.N, 1);
      assert.equal(node.Q, node.correct ? 1 : -1);
    }
  }
  const answersBelow = (id: number): number =>
    t.nodes.filter((n) => n.parent === id).reduce((sum, n) => sum + (n.terminal === 'answer' ? 1 : n.terminal === null ? answersBelow(n.id) : 0), 0);
  if (t.nodes.every((n) => n.ppm === null)) assert.equal(root.N, answersBelow(0), `${t.id}: root N must count the answers backed up`);
}

test('every problem finishes once, with its rollouts counted exactly', async () => {
  for (const engine of ['native', 'reference'] as const) {
    for (const rolloutsInFlight of [1, 3]) {
      const { trees, stats } = await run(25, { engine, rollouts: 8, n: 4, concurrency: 5, rolloutsInFlight });
      assert.deepEqual(trees.map((t) => t.id).sort(), problems(25).map((p) => p.id).sort());
      assert.equal(stats.problems, 25);
      for (const t of trees) checkTree(t, 8);
      assert.equal(stats.rollouts, trees.reduce((s, t) => s + t.rollouts, 0));
    }
  }
});

test('native and reference engines grow identical trees', async () => {
  const options = { rollouts: 6, n: 3, concurrency: 4, rolloutsInFlight: 2 };
  const native = await run(12, { ...options, engine: 'native' }, backends({ ppm: true }));
  const reference = await run(12, { ...options, engine: 'reference' }, backends({ ppm: true }));
  assert.deepEqual(native.trees, reference.trees);
});

test('with a PPM, open children start with their score as the first visit', async () => {
  const { trees } = await run(6, { rollouts: 4, n: 4 }, backends({ ppm: true }));
  let scored = 0;
  for (const t of trees) {
    for (const node of t.nodes.slice(1)) {
      if (node.terminal !== null) {
        assert.equal(node.ppm, null);
        continue;
      }
      assert.equal(typeof node.ppm, 'number');
      assert.ok(node.N >= 1);
      scored++;
    }
  }
  assert.ok(scored > 0);
});

test('stages batch across trees and overlap under policy latency', async () => {
  const { stats } = await run(16, { rollouts: 4, n: 3, concurrency: 16, rolloutsInFlight: 2 }, backends({ latencyMs: 5 }));
  const expand = stats.stages['expand']!;
  assert.ok(expand.items / expand.calls > 4, `mean policy batch ${expand.items / expand.calls}`);
  assert.equal(stats.problems, 16);
});

test('an engine that leaves virtual loss behind fails the run', async () => {
  // The scheduler checks every finished tree: no rollout may leave virtual loss or a pending node.
  const search = new Search({ rollouts: 4, n: 3, concurrency: 2 }, backends(), () => {});
  search.engine.unwind = () => {};
  await assert.rejects(search.run(stream(problems(3))), /virtual loss/);
});

test('a failing policy fails the run with its error', async () => {
  const b = backends();
  b.policy = { name: 'broken', generate: async () => Promise.reject(new Error('server unreachable')) };
  const search = new Search({ rollouts: 2, n: 2 }, b, () => {});
  await assert.rejects(search.run(stream(problems(2))), /server unreachable/);
});

test('a policy that returns more than n candidates is refused', async () => {
  const b = backends();
  b.policy = { name: 'greedy', generate: async (rs) => rs.map(() => ['a', 'b', 'c']) };
  await assert.rejects(new Search({ rollouts: 2, n: 2 }, b, () => {}).run(stream(problems(1))), /at most 2 candidate steps/);
});

test('identical candidate steps become one child, and are counted', async () => {
  // every candidate twice: the search must grow the trees of the plain policy
  const b = backends();
  const inner = b.policy;
  b.policy = { name: 'doubled', generate: async (rs) => (await inner.generate(rs.map((r) => ({ ...r, n: r.n / 2 })))).map((c) => (c as string[]).flatMap((s) => [s, s])) };
  const doubled = await run(6, { rollouts: 8, n: 4, concurrency: 1 }, b);
  const plain = await run(6, { rollouts: 8, n: 2, concurrency: 1 });
  const shape = (t: ExportedTree) => t.nodes.map((n) => [n.parent, n.step, n.N, n.Q]);
  assert.deepEqual(doubled.trees.map(shape), plain.trees.map(shape));
  // each expansion offered its k plain candidates twice: k more dropped than the plain run's
  assert.equal(doubled.stats.duplicateSteps, 2 * plain.stats.duplicateSteps + plain.stats.nodes);
  for (const t of doubled.trees) {
    const seen = new Set(t.nodes.map((n) => `${n.parent}\u0000${n.step}`));
    assert.equal(seen.size, t.nodes.length, `${t.id}: two siblings with the same step`);
  }
});

test('a bad input item stops reading but finishes and hands over the trees in flight', async () => {
  async function* broken(): AsyncGenerator<Problem> {
    yield* stream(problems(3));
    throw new Error('problems.jsonl:4: missing field "answer"');
  }
  const trees: ExportedTree[] = [];
  const search = new Search({ rollouts: 4, n: 3, concurrency: 8 }, backends(), ({ tree }) => {
    trees.push(tree);
  });
  await assert.rejects(search.run(broken()), /problems.jsonl:4/);
  assert.deepEqual(trees.map((t) => t.id).sort(), ['p0', 'p1', 'p2']);
  for (const t of trees) checkTree(t, 4);
});

test('option errors name the option', () => {
  assert.throws(() => new Search({ n: 0 }, backends(), () => {}), /n must be an integer >= 1/);
  assert.throws(() => new Search({ c: -1 }, backends(), () => {}), /c must be/);
});

test('more search finds more correct answers than a single rollout', async () => {
  const solved = async (rollouts: number) => (await run(40, { rollouts, n: 4, concurrency: 8 }, backends({ pCorrect: 0.6 }))).stats.solved;
  const one = await solved(1);
  const many = await solved(16);
  assert.ok(many > one, `16 rollouts solved ${many}, 1 rollout ${one}`);
});

test('after a fatal error no more trees are handed over', async () => {
  const b = backends();
  const policy = b.policy;
  let calls = 0;
  b.policy = { name: 'flaky', generate: (rs) => (++calls === 6 ? Promise.reject(new Error('boom')) : policy.generate(rs)) };
  let handed = 0;
  const search = new Search({ rollouts: 3, n: 3, concurrency: 4 }, b, () => {
    handed++;
  });
  await assert.rejects(search.run(stream(problems(30))), /boom/);
  const atRejection = handed;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(handed, atRejection);
});

test('a step whose code failed is marked codeError in the tree, and only those', async () => {
  const { trees } = await run(8, { rollouts: 8, n: 4 });
  const nodes = trees.flatMap((t) => t.nodes);
  const failed = nodes.filter((n) => n.codeError === true);
  assert.ok(failed.length > 0, 'the sim policy writes failing code now and then');
  for (const n of nodes) assert.equal(n.codeError === true, n.output === 'NameError: simulated code error', `node ${n.id}: ${n.step}`);
  assert.ok(nodes.filter((n) => n.terminal === 'code_errors').every((n) => n.codeError === true));
});

test('bench search: the schedule is deterministic (the same digest twice), so the CPU and GPU arenas can be compared tree for tree; another seed gives other trees', async () => {
  const o = { ...searchBenchDefaults, rollouts: 4 };
  const [a, b] = [await runSearchBench('cpu', 64, 4, o), await runSearchBench('cpu', 64, 4, o)];
  assert.equal(a.digest, b.digest);
  assert.equal(a.rollouts, b.rollouts);
  assert.ok(a.rollouts > 0 && a.rollouts <= 64 * 4);
  assert.notEqual((await runSearchBench('cpu', 64, 4, { ...o, seed: 2 })).digest, a.digest);
  assert.ok(Math.abs(a.engineShare + a.jsShare + a.waitShare - 1) < 1e-9 || a.jsShare === 0);
});
