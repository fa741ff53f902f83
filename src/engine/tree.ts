// The tree engine's shape, shared by the native arena (native/include/rstar/arena.hpp)
// and the TypeScript reference (reference.ts), which is the oracle for the native one.
// Node indices are global: tree t owns [t * nodesPerTree, t * nodesPerTree + treeSize[t]),
// its root first, children of a node contiguous from firstChild.

/** Bits of TreeArrays.flags. */
export const Flag = {
  expanded: 1,
  /** selected for expansion; the policy call is in flight */
  pending: 2,
  /** expanded, and every child is terminal or exhausted */
  exhausted: 4,
} as const;

/** TreeArrays.terminal. Answers back up to the root; the other kinds update the node only. */
export const Terminal = {
  none: 0,
  answer: 1,
  /** consecutive code errors reached the threshold */
  codeErrors: 2,
  /** max depth reached without an answer */
  tooDeep: 3,
  /** the step could not be parsed */
  invalid: 4,
} as const;
export type TerminalKind = (typeof Terminal)[keyof typeof Terminal];
export const terminalKinds = 5;
export const terminalNames = ['none', 'answer', 'code_errors', 'too_deep', 'invalid'] as const;

/** select() results besides a node index. */
export const SelectResult = {
  /** the start node has nothing left to explore */
  exhausted: -1,
  /** every open path runs into a pending expansion: try again after one lands */
  blocked: -2,
} as const;

/**
 * rstar: the authors' UCT, an unvisited child scores exactly 0 and ties go to the first
 * child. classic: the textbook rule, the first unvisited child before any other.
 */
export const SelectMode = { rstar: 0, classic: 1 } as const;
export type SelectModeName = keyof typeof SelectMode;

/**
 * The arrays of TreeArrays with one entry per node, in layout order: the one TypeScript
 * list of native/include/rstar/node_layout.hpp's fields, which native.ts checks against
 * the addon's list at load.
 */
export const nodeArrays = {
  parent: Int32Array,
  firstChild: Int32Array,
  childCount: Int32Array,
  depth: Int32Array,
  /** N */
  visits: Int32Array,
  /** W */
  valueSum: Float32Array,
  virtualLoss: Int32Array,
  /** NaN until the PPM scores the node */
  ppmValue: Float32Array,
  /** Flag bits */
  flags: Uint8Array,
  /** a Terminal kind */
  terminal: Uint8Array,
} as const;

export type NodeArrayName = keyof typeof nodeArrays;

export type TreeArrays = { readonly [K in NodeArrayName]: InstanceType<(typeof nodeArrays)[K]> } & {
  /** nodes per tree in use; current at all times, also without sync() */
  readonly treeSize: Int32Array;
};

/** Where a native engine keeps its trees: cpu (the C++ arena) or cuda (gpu_arena.hpp). */
export type Device = 'cpu' | 'cuda';

/** The batch-first search operations; see arena.hpp for each one's exact contract. */
export interface TreeEngine {
  readonly name: 'native' | 'reference';
  readonly device: Device;
  readonly trees: number;
  readonly nodesPerTree: number;
  /**
   * The trees' nodes, indexed by global node. The contract: after any engine operation, a
   * caller must sync() a tree before reading its nodes here (the search does so only to
   * write a finished tree; between operations it reads flags through readFlags()) (a GPU engine keeps them on
   * the device; its arrays are a host mirror that only sync() updates; the CPU engines'
   * sync() does nothing). treeSize is always current.
   */
  readonly arrays: TreeArrays;
  /** Makes `arrays` current for these trees: one transfer for all of them, none on the CPU. */
  sync(trees: Iterable<number>): void;
  /**
   * flags[i] = the Flag bits of nodes[i], current without sync(): what the search reads
   * between operations (is a root exhausted?); on the GPU one transfer of a byte per node.
   */
  readFlags(nodes: Int32Array, flags: Uint8Array): void;
  /** A free tree with a fresh root, or -1 when all are in use. */
  acquire(): number;
  /** Clears the tree and returns it to the free list. */
  release(tree: number): void;
  select(starts: Int32Array, leaves: Int32Array, mode: number, c: number): void;
  expand(leaves: Int32Array, counts: Int32Array, kinds: Uint8Array, firstChild: Int32Array): void;
  initValues(nodes: Int32Array, values: Float32Array): void;
  backup(nodes: Int32Array, values: Float32Array): void;
  unwind(nodes: Int32Array): void;
  /**
   * The fused PPM step: each node's score tanh((hidden row . weight + bias) / 5) becomes its
   * first visit (open nodes) or is backed up (terminals); scores receives them when not empty.
   */
  scoreFused(nodes: Int32Array, hidden: Float32Array, weight: Float32Array, bias: number, scores: Float32Array): void;
}

/** One node's bytes over those arrays (34); native.ts checks the addon's Arena::kNodeBytes agrees. */
export const nodeBytes = Object.values(nodeArrays).reduce((sum, a) => sum + a.BYTES_PER_ELEMENT, 0);

/** What an arena of `trees` trees of `nodesPerTree` nodes allocates: its node arrays and treeSize. */
export function arenaBytes(trees: number, nodesPerTree: number): number {
  return trees * nodesPerTree * nodeBytes + trees * Int32Array.BYTES_PER_ELEMENT;
}

/** The most nodes one tree can need: every rollout expands at most maxDepth nodes. */
export function nodesPerTreeBound(rollouts: number, maxDepth: number, n: number): number {
  return 1 + rollouts * maxDepth * n;
}
