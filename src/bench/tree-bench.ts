// Tree-engine throughput: the same synthetic search workload through the native arena and
// the TypeScript reference, in one process, one after the other. Every tree runs
// `rollouts` rollouts one at a time (the batch is across trees); each expansion gets `n`
// children whose terminal kinds and PPM values come from fixed tables indexed by node, so
// both engines do exactly the same operations and must end with identical trees.
import { createEngine } from '../engine/search.js';
import { Flag, nodesPerTreeBound, SelectMode, Terminal, type TreeEngine } from '../engine/tree.js';
import { rng } from '../util/random.js';

export interface TreeBenchOptions {
  trees: number;
  rollouts: number;
  n: number;
  maxDepth: number;
  c: number;
  seed: number;
}

export const treeBenchDefaults: TreeBenchOptions = { trees: 4096, rollouts: 48, n: 12, maxDepth: 16, c: 2, seed: 1 };

export interface TreeBenchResult {
  engine: string;
  /** wall time of the whole workload, driver included */
  ms: number;
  /** time inside the engine's calls alone */
  engineMs: number;
  /** expansions: one select descent, one expand, the children's values */
  sims: number;
  rollouts: number;
  nodes: number;
  /** a digest of every tree's final statistics, equal across engines when they agree */
  digest: number;
}

const tableBits = 16;

interface Tables {
  draw: Float32Array;
  value: Float32Array;
}

function tables(seed: number): Tables {
  const r = rng(seed);
  const size = 1 << tableBits;
  return { draw: Float32Array.from({ length: size }, r), value: Float32Array.from({ length: size }, () => r() * 2 - 1) };
}

// Deeper steps are more often final answers, as in real trees: rollouts end at depth ~4-8.
function kindOf(draw: number, depth: number, maxDepth: number): number {
  const pAnswer = Math.min(0.9, 0.05 + 0.12 * depth);
  if (draw < pAnswer) return Terminal.answer;
  if (draw < pAnswer + 0.05) return Terminal.codeErrors;
  return depth >= maxDepth ? Terminal.tooDeep : Terminal.none;
}

/**
 * Runs the workload `passes` times on one engine and returns the fastest pass. The first
 * pass also warms up: it faults in the arena's pages and lets the JIT settle, as a long
 * run's steady state would (released trees' memory is reused).
 */
export function runTreeBench(engineName: 'native' | 'reference', o: TreeBenchOptions, passes = 2): TreeBenchResult {
  const engine: TreeEngine = createEngine(engineName, o.trees, nodesPerTreeBound(o.rollouts, o.maxDepth, o.n));
  const t = tables(o.seed);
  let best: TreeBenchResult | undefined;
  for (let pass = 0; pass < Math.max(2, passes); pass++) {
    const r = onePass(engine, o, t);
    for (let tree = 0; tree < o.trees; tree++) engine.release(tree);
    if (pass > 0 && (!best || r.ms < best.ms)) best = r;
  }
  return best!;
}

function onePass(engine: TreeEngine, o: TreeBenchOptions, t: Tables): TreeBenchResult {
  const mask = (1 << tableBits) - 1;
  const a = engine.arrays;
  const roots = new Int32Array(o.trees);
  for (let i = 0; i < o.trees; i++) roots[i] = engine.acquire() * engine.nodesPerTree;
  const position = Int32Array.from(roots); // where each tree's rollout stands
  const completed = new Int32Array(o.trees);
  let live = Array.from({ length: o.trees }, (_, i) => i);
  let sims = 0;
  let rollouts = 0;
  let engineMs = 0;
  const timed = (op: () => void) => {
    const t0 = performance.now();
    op();
    engineMs += performance.now() - t0;
  };
  const start = performance.now();
  while (live.length > 0) {
    const starts = Int32Array.from(live, (i) => position[i]!);
    const leaves = new Int32Array(live.length);
    timed(() => {
      engine.select(starts, leaves, SelectMode.rstar, o.c);
      engine.sync(live); // read below: the roots' flags and the leaves' depths
    });
    const ends: number[] = [];
    const expanding: number[] = [];
    const next: number[] = [];
    live.forEach((tree, i) => {
      const leaf = leaves[i]!;
      if (leaf >= 0) {
        expanding.push(tree);
        position[tree] = leaf;
        next.push(tree);
        return;
      }
      ends.push(position[tree]!);
      rollouts++;
      completed[tree]!++;
      position[tree] = roots[tree]!;
      if (completed[tree]! < o.rollouts && !(a.flags[roots[tree]!]! & Flag.exhausted)) next.push(tree);
    });
    if (ends.length > 0) {
      const nodes = Int32Array.from(ends);
      timed(() => engine.unwind(nodes));
    }
    if (expanding.length > 0) {
      const leafNodes = Int32Array.from(expanding, (tree) => position[tree]!);
      const counts = new Int32Array(leafNodes.length).fill(o.n);
      const kinds = new Uint8Array(leafNodes.length * o.n);
      for (let i = 0; i < leafNodes.length; i++) {
        const leaf = leafNodes[i]!;
        const depth = a.depth[leaf]! + 1;
        for (let j = 0; j < o.n; j++) kinds[i * o.n + j] = kindOf(t.draw[(Math.imul(leaf, 2654435761) + j) & mask]!, depth, o.maxDepth);
      }
      const first = new Int32Array(leafNodes.length);
      timed(() => engine.expand(leafNodes, counts, kinds, first));
      const open: number[] = [];
      const openValues: number[] = [];
      const ended: number[] = [];
      const endedValues: number[] = [];
      for (let i = 0; i < leafNodes.length; i++) {
        for (let j = 0; j < o.n; j++) {
          const node = first[i]! + j;
          const value = t.value[(node * 31 + 7) & mask]!;
          const kind = kinds[i * o.n + j]!;
          if (kind === Terminal.none) {
            open.push(node);
            openValues.push(value);
          } else {
            ended.push(node);
            endedValues.push(kind === Terminal.answer ? (value >= 0 ? 1 : -1) : -1);
          }
        }
      }
      const openNodes = Int32Array.from(open);
      const openValueArray = Float32Array.from(openValues);
      const endedNodes = Int32Array.from(ended);
      const endedValueArray = Float32Array.from(endedValues);
      timed(() => {
        engine.initValues(openNodes, openValueArray);
        engine.backup(endedNodes, endedValueArray);
      });
      sims += leafNodes.length;
    }
    live = next;
  }
  const ms = performance.now() - start;
  engine.sync(Array.from({ length: o.trees }, (_, tree) => tree)); // read below: the digest
  let nodes = 0;
  let digest = 0;
  for (let tree = 0; tree < o.trees; tree++) {
    const size = a.treeSize[tree]!;
    nodes += size;
    for (let x = roots[tree]!; x < roots[tree]! + size; x++) {
      digest = (Math.imul(digest, 31) + a.visits[x]! * 7 + Math.round(a.valueSum[x]! * 1024) + a.flags[x]!) | 0;
    }
  }
  return { engine: engine.name, ms, engineMs, sims, rollouts, nodes, digest };
}
