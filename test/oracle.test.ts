// The native arena against the TypeScript reference: random operation sequences, run
// through both, must leave identical arrays and fail (or not) identically at every step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { NativeTree } from '../src/engine/native.js';
import { ReferenceTree } from '../src/engine/reference.js';
import { Flag, Terminal, type TreeArrays, type TreeEngine } from '../src/engine/tree.js';

const op = fc.record({
  kind: fc.integer({ min: 0, max: 10 }),
  a: fc.nat(1000),
  b: fc.nat(1000),
  c: fc.nat(1000),
  mode: fc.integer({ min: 0, max: 1 }),
  value: fc.float({ min: -1, max: 1, noNaN: true }),
  kinds: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 5 }),
});
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

const trees = 3;
const nodesPerTree = 40;

function allocated(e: TreeEngine): number[] {
  const nodes: number[] = [];
  for (let t = 0; t < e.trees; t++) {
    for (let i = 0; i < e.arrays.treeSize[t]!; i++) nodes.push(t * e.nodesPerTree + i);
  }
  return nodes;
}

function pick<T>(items: T[], i: number): T | undefined {
  return items.length === 0 ? undefined : items[i % items.length];
}

/** Turns one random op into a call, choosing mostly valid arguments from the state of `e`. */
function call(e: TreeEngine, o: Op): () => unknown {
  const nodes = allocated(e);
  const a = e.arrays;
  const some = (count: number, filter: (x: number) => boolean) => {
    const ok = nodes.filter(filter);
    return Int32Array.from({ length: Math.min(count, ok.length) }, (_, i) => ok[(o.a + i * (o.b + 1)) % ok.length]!);
  };
  switch (o.kind) {
    case 0:
      return () => e.acquire();
    case 1: {
      const used = Array.from({ length: trees }, (_, t) => t).filter((t) => a.treeSize[t]! > 0);
      const tree = pick(used, o.a) ?? o.a % (trees + 1);
      return () => e.release(tree);
    }
    case 2:
    case 3: {
      const starts = Int32Array.from({ length: 1 + (o.c % 4) }, (_, i) => pick(nodes, o.a + i * o.b) ?? 0);
      const leaves = new Int32Array(starts.length);
      return () => {
        e.select(starts, leaves, o.mode, 0.5 + (o.c % 3));
        return Array.from(leaves);
      };
    }
    case 4:
    case 5: {
      // Mostly pending leaves, as the scheduler expands them; sometimes any node (errors).
      const leaves = o.kind === 4 ? some(1 + (o.c % 2), (x) => (a.flags[x]! & Flag.pending) !== 0) : some(1, () => true);
      const counts = Int32Array.from(leaves, (_, i) => (o.kinds.length + i) % 5);
      const kinds = Uint8Array.from({ length: 10 }, (_, i) => o.kinds[i % Math.max(1, o.kinds.length)] ?? Terminal.none);
      const first = new Int32Array(leaves.length);
      return () => {
        e.expand(leaves, counts, kinds, first);
        return Array.from(first);
      };
    }
    case 6: {
      const targets = some(1 + (o.c % 3), (x) => a.terminal[x] === Terminal.none);
      const values = Float32Array.from(targets, (_, i) => o.value / (i + 1));
      return () => e.initValues(targets, values);
    }
    case 7: {
      const targets = some(1 + (o.c % 3), (x) => a.terminal[x] !== Terminal.none || o.c % 2 === 0);
      const values = Float32Array.from(targets, (_, i) => (i % 2 === 0 ? o.value : -1));
      return () => e.backup(targets, values);
    }
    case 8: {
      const targets = some(1, (x) => a.virtualLoss[x]! > 0);
      return () => e.unwind(targets);
    }
    case 10: {
      // The roots the search reads between operations, sometimes a node not allocated.
      const targets = some(1 + (o.c % 3), () => true);
      const read = o.b % 5 === 0 ? Int32Array.of(...targets, (o.a % trees) * nodesPerTree + nodesPerTree - 1) : targets;
      const flags = new Uint8Array(read.length);
      return () => {
        e.readFlags(read, flags);
        return Array.from(flags);
      };
    }
    default: {
      const bad = o.a % 2 === 0 ? -1 : trees * nodesPerTree + o.b;
      return () => e.select(Int32Array.of(bad), new Int32Array(1), 0, 2);
    }
  }
}

function outcome(f: () => unknown): { ok: unknown } | { error: string } {
  try {
    return { ok: f() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function sameArrays(x: TreeArrays, y: TreeArrays, context: string): void {
  for (const key of Object.keys(x) as (keyof TreeArrays)[]) {
    assert.deepEqual(Array.from(x[key]), Array.from(y[key]), `${context}: ${key} differs`);
  }
}

test('native arena matches the TypeScript reference on random operation sequences', () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
      const native = new NativeTree(trees, nodesPerTree);
      const reference = new ReferenceTree(trees, nodesPerTree);
      ops.forEach((o, i) => {
        const n = outcome(call(native, o));
        const r = outcome(call(reference, o));
        assert.deepEqual(n, r, `op ${i} (${o.kind}) gave different results`);
        sameArrays(native.arrays, reference.arrays, `after op ${i} (${o.kind})`);
      });
    }),
    { numRuns: 300 },
  );
});

test('a search-shaped sequence stays identical over many rollouts', () => {
  // Several rollouts per tree in flight, as the scheduler runs them: virtual loss, blocked
  // selections, continuations, ties and exhaustion, which short random sequences rarely reach.
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 4 }), (seed, mode, inFlight) => {
      const engines = [new NativeTree(2, 300), new ReferenceTree(2, 300)];
      const trace = engines.map((e) => {
        let s = seed;
        const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
        const roots = [e.acquire() * e.nodesPerTree, e.acquire() * e.nodesPerTree];
        const position = roots.flatMap((r) => Array.from({ length: inFlight }, () => r));
        const log: number[] = [];
        for (let round = 0; round < 60; round++) {
          const leaves = new Int32Array(position.length);
          e.select(Int32Array.from(position), leaves, mode, 1 + next() * 2);
          log.push(...leaves);
          const open: number[] = [];
          leaves.forEach((leaf, i) => {
            if (leaf >= 0) {
              position[i] = leaf;
              open.push(leaf);
            } else if (leaf === -1) {
              e.unwind(Int32Array.of(position[i]!));
              position[i] = roots[Math.floor(i / inFlight)]!;
            }
          });
          const counts = Int32Array.from(open, () => Math.floor(next() * 5));
          const need = [0, 0];
          open.forEach((x, i) => (need[Math.floor(x / e.nodesPerTree)]! += counts[i]!));
          if (need.some((k, t) => e.arrays.treeSize[t]! + k > e.nodesPerTree)) break;
          const total = counts.reduce((p, c) => p + c, 0);
          const kinds = Uint8Array.from({ length: total }, () => {
            const u = next();
            return u < 0.25 ? Terminal.answer : u < 0.3 ? Terminal.codeErrors : u < 0.33 ? Terminal.invalid : Terminal.none;
          });
          const first = new Int32Array(open.length);
          e.expand(Int32Array.from(open), counts, kinds, first);
          const children = open.flatMap((_, i) => Array.from({ length: counts[i]! }, (_, j) => first[i]! + j));
          const scored = children.filter((x) => e.arrays.terminal[x] === Terminal.none && next() < 0.8);
          e.initValues(Int32Array.from(scored), Float32Array.from(scored, () => next() * 2 - 1));
          const ends = children.filter((x) => e.arrays.terminal[x] !== Terminal.none);
          e.backup(Int32Array.from(ends), Float32Array.from(ends, () => (next() < 0.5 ? 1 : -1)));
          // Some rollouts stop here; the rest go on from the node they expanded.
          position.forEach((x, i) => {
            if (open.includes(x) && next() < 0.3) {
              e.unwind(Int32Array.of(x));
              position[i] = roots[Math.floor(i / inFlight)]!;
            }
          });
        }
        return log;
      });
      assert.deepEqual(trace[0], trace[1]);
      sameArrays(engines[0]!.arrays, engines[1]!.arrays, `seed ${seed}`);
    }),
    { numRuns: 200 },
  );
});
