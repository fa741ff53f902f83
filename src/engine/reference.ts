// The TypeScript reference of the tree arena: the same operations as
// native/src/arena.cpp, line for line, on the same struct of arrays. It is the oracle of
// the property tests and the baseline of the tree benchmark; keep the two in step.
import { ppmScore } from './head.js';
import { Flag, nodeArrays, SelectMode, SelectResult, Terminal, terminalKinds, type NodeArrayName, type TreeArrays, type TreeEngine } from './tree.js';

const nodeArrayNames = Object.keys(nodeArrays) as NodeArrayName[];

/** A scratch bit of flags, set only inside one expand() call. */
const marked = 128;

function fail(message: string): never {
  throw new Error(message);
}

export class ReferenceTree implements TreeEngine {
  readonly name = 'reference';
  readonly device = 'cpu';
  readonly arrays: TreeArrays;
  private readonly freeTrees: number[] = [];
  private readonly inUse: Uint8Array;
  private readonly need: Int32Array;

  constructor(readonly trees: number, readonly nodesPerTree: number) {
    if (!(trees >= 1 && nodesPerTree >= 1)) fail('Arena: trees and nodes_per_tree must be >= 1');
    if (trees * nodesPerTree > 0x7fffffff) fail('Arena: trees * nodes_per_tree must fit in int32 (node indices are int32)');
    const n = trees * nodesPerTree;
    const nodes = Object.fromEntries(Object.entries(nodeArrays).map(([name, Type]) => [name, new Type(n)]));
    this.arrays = { ...(nodes as Omit<TreeArrays, 'treeSize'>), treeSize: new Int32Array(trees) };
    this.inUse = new Uint8Array(trees);
    this.need = new Int32Array(trees);
    for (let t = trees - 1; t >= 0; t--) this.freeTrees.push(t);
  }

  /** The arrays are the trees themselves: always current. */
  sync(): void {}

  private resetNode(node: number, parent: number, depth: number, kind: number): void {
    const a = this.arrays;
    a.parent[node] = parent;
    a.firstChild[node] = -1;
    a.childCount[node] = 0;
    a.depth[node] = depth;
    a.visits[node] = 0;
    a.valueSum[node] = 0;
    a.virtualLoss[node] = 0;
    a.ppmValue[node] = NaN;
    a.flags[node] = 0;
    a.terminal[node] = kind;
  }

  acquire(): number {
    const tree = this.freeTrees.pop();
    if (tree === undefined) return -1;
    this.inUse[tree] = 1;
    this.arrays.treeSize[tree] = 1;
    this.resetNode(tree * this.nodesPerTree, -1, 0, Terminal.none);
    return tree;
  }

  release(tree: number): void {
    if (!(tree >= 0 && tree < this.trees && this.inUse[tree])) fail(`release: tree ${tree} is not in use`);
    const a = this.arrays;
    const begin = tree * this.nodesPerTree;
    const end = begin + a.treeSize[tree]!;
    for (const name of nodeArrayNames) a[name].fill(0, begin, end);
    a.treeSize[tree] = 0;
    this.inUse[tree] = 0;
    this.freeTrees.push(tree);
  }

  private checkNode(node: number, op: string): void {
    if (!(Number.isInteger(node) && node >= 0 && node < this.trees * this.nodesPerTree)) fail(`${op}: node ${node} is out of range`);
    const tree = Math.floor(node / this.nodesPerTree);
    if (!this.inUse[tree] || node - tree * this.nodesPerTree >= this.arrays.treeSize[tree]!) fail(`${op}: node ${node} is not allocated`);
  }

  select(starts: Int32Array, leaves: Int32Array, mode: number, c: number): void {
    if (leaves.length < starts.length) fail('select: leaves is shorter than starts');
    for (const s of starts) this.checkNode(s, 'select');
    const { flags, terminal, visits, valueSum, virtualLoss, firstChild, childCount, parent } = this.arrays;
    for (let i = 0; i < starts.length; i++) {
      const start = starts[i]!;
      let node = start;
      let result: number;
      for (;;) {
        const f = flags[node]!;
        if (!(f & Flag.expanded)) {
          if (f & Flag.pending) result = SelectResult.blocked;
          else if (terminal[node] !== Terminal.none) result = SelectResult.exhausted;
          else {
            flags[node] = f | Flag.pending;
            result = node;
          }
          break;
        }
        if (f & Flag.exhausted) {
          result = SelectResult.exhausted;
          break;
        }
        const parentVisits = visits[node]! + virtualLoss[node]!;
        const lnParent = parentVisits > 1 ? Math.log(parentVisits) : 0;
        const first = firstChild[node]!;
        const end = first + childCount[node]!;
        let best = -1;
        let bestScore = -Infinity;
        for (let ch = first; ch < end; ch++) {
          if (terminal[ch] !== Terminal.none || flags[ch]! & (Flag.exhausted | Flag.pending)) continue;
          const vl = virtualLoss[ch]!;
          const n = visits[ch]! + vl;
          if (mode === SelectMode.classic && n === 0) {
            best = ch;
            break;
          }
          // UCT with virtual loss counted as lost visits; same order of operations as arena.cpp.
          const score = n === 0 ? 0 : (valueSum[ch]! - vl) / n + c * Math.sqrt(lnParent / n);
          if (score > bestScore) {
            bestScore = score;
            best = ch;
          }
        }
        if (best < 0) {
          result = SelectResult.blocked;
          break;
        }
        virtualLoss[best]! += 1;
        node = best;
      }
      if (result < 0) {
        for (let x = node; x !== start; x = parent[x]!) virtualLoss[x]! -= 1;
      }
      leaves[i] = result;
    }
  }

  private allChildrenClosed(node: number): boolean {
    const { firstChild, childCount, terminal, flags } = this.arrays;
    const end = firstChild[node]! + childCount[node]!;
    for (let ch = firstChild[node]!; ch < end; ch++) {
      if (terminal[ch] === Terminal.none && !(flags[ch]! & Flag.exhausted)) return false;
    }
    return true;
  }

  private propagateExhausted(node: number): void {
    const { flags, parent } = this.arrays;
    for (let x = node; x >= 0; x = parent[x]!) {
      if (flags[x]! & Flag.exhausted || !(flags[x]! & Flag.expanded) || !this.allChildrenClosed(x)) return;
      flags[x] = flags[x]! | Flag.exhausted;
    }
  }

  expand(leaves: Int32Array, counts: Int32Array, kinds: Uint8Array, firstChildOut: Int32Array): void {
    if (counts.length < leaves.length || firstChildOut.length < leaves.length) fail('expand: counts and first_child must have one entry per leaf');
    const a = this.arrays;
    const per = this.nodesPerTree;
    // Validate the whole batch first so that a bad call changes nothing.
    let total = 0;
    let error = '';
    for (const leaf of leaves) this.checkNode(leaf, 'expand');
    let done = 0;
    for (; done < leaves.length; done++) {
      const leaf = leaves[done]!;
      let problem = '';
      if (a.flags[leaf]! & marked) problem = ' appears twice';
      else if (a.flags[leaf]! & Flag.expanded) problem = ' is already expanded';
      else if (a.terminal[leaf] !== Terminal.none) problem = ' is terminal';
      else if (counts[done]! < 0) problem = ' has a negative child count';
      if (problem) {
        error = `expand: node ${leaf}${problem}`;
        break;
      }
      a.flags[leaf] = a.flags[leaf]! | marked;
      const tree = Math.floor(leaf / per);
      this.need[tree]! += counts[done]!;
      if (a.treeSize[tree]! + this.need[tree]! > per) {
        error = `expand: tree ${tree} is full (${per} nodes per tree)`;
        done++;
        break;
      }
      total += counts[done]!;
    }
    for (let i = 0; i < done; i++) {
      a.flags[leaves[i]!] = a.flags[leaves[i]!]! & ~marked;
      this.need[Math.floor(leaves[i]! / per)] = 0;
    }
    if (error) fail(error);
    if (kinds.length < total) fail('expand: kinds needs one entry per child (sum of counts)');
    for (let k = 0; k < total; k++) if (kinds[k]! >= terminalKinds) fail(`expand: unknown terminal kind ${kinds[k]}`);

    let k = 0;
    for (let i = 0; i < leaves.length; i++) {
      const leaf = leaves[i]!;
      const tree = Math.floor(leaf / per);
      const first = tree * per + a.treeSize[tree]!;
      a.treeSize[tree]! += counts[i]!;
      for (let j = 0; j < counts[i]!; j++) this.resetNode(first + j, leaf, a.depth[leaf]! + 1, kinds[k++]!);
      a.firstChild[leaf] = first;
      a.childCount[leaf] = counts[i]!;
      a.flags[leaf] = (a.flags[leaf]! | Flag.expanded) & ~Flag.pending;
      firstChildOut[i] = first;
    }
    for (const leaf of leaves) this.propagateExhausted(leaf);
  }

  initValues(nodes: Int32Array, values: Float32Array): void {
    if (values.length < nodes.length) fail('init_values: values is shorter than nodes');
    for (const node of nodes) this.checkNode(node, 'init_values');
    const { visits, valueSum, ppmValue } = this.arrays;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      visits[node]! += 1;
      valueSum[node]! += values[i]!;
      ppmValue[node] = values[i]!;
    }
  }

  backup(nodes: Int32Array, values: Float32Array): void {
    if (values.length < nodes.length) fail('backup: values is shorter than nodes');
    for (const node of nodes) this.checkNode(node, 'backup');
    const { visits, valueSum, terminal, parent } = this.arrays;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const v = values[i]!;
      const kind = terminal[node]!;
      if (kind !== Terminal.none && kind !== Terminal.answer) {
        visits[node]! += 1;
        valueSum[node]! += v;
        continue;
      }
      for (let x = node; x >= 0; x = parent[x]!) {
        visits[x]! += 1;
        valueSum[x]! += v;
      }
    }
  }

  /** The fused PPM step (arena.hpp score_fused): score each hidden row, then record it. */
  scoreFused(nodes: Int32Array, hidden: Float32Array, weight: Float32Array, bias: number, scores: Float32Array): void {
    const h = weight.length;
    if (h === 0) fail("score_fused: the head's weight is empty");
    if (hidden.length !== nodes.length * h) fail(`score_fused: hidden must hold one row of ${h} floats per node`);
    if (scores.length > 0 && scores.length < nodes.length) fail('score_fused: scores is shorter than nodes');
    for (const node of nodes) this.checkNode(node, 'score_fused');
    const head = { weight, bias };
    for (let i = 0; i < nodes.length; i++) {
      const score = Float32Array.of(ppmScore(hidden, i * h, head));
      if (scores.length > 0) scores[i] = score[0]!;
      const node = nodes.subarray(i, i + 1);
      if (this.arrays.terminal[nodes[i]!] === Terminal.none) {
        this.initValues(node, score);
      } else {
        this.arrays.ppmValue[nodes[i]!] = score[0]!;
        this.backup(node, score);
      }
    }
  }

  readFlags(nodes: Int32Array, flags: Uint8Array): void {
    if (flags.length < nodes.length) fail('read_flags: flags is shorter than nodes');
    for (const node of nodes) this.checkNode(node, 'read_flags');
    nodes.forEach((node, i) => (flags[i] = this.arrays.flags[node]!));
  }

  unwind(nodes: Int32Array): void {
    for (const node of nodes) this.checkNode(node, 'unwind');
    const { virtualLoss, parent } = this.arrays;
    for (const node of nodes) {
      for (let x = node; parent[x]! >= 0; x = parent[x]!) {
        if (virtualLoss[x]! <= 0) fail(`unwind: node ${x} holds no virtual loss`);
        virtualLoss[x]! -= 1;
      }
    }
  }
}
