// One finished tree as plain JSON: the line written to trees.jsonl (`rstar synth`, `rstar
// eval --trees`), and those files read back, streamed; a bad line names the file and line.
import { InputError, jsonlLines, parseObjectLine } from '../io/problems.js';
import { Flag, terminalNames, type TreeArrays } from './tree.js';

export interface ExportedNode {
  /** index within the tree; the root is 0 and a node's children are contiguous */
  id: number;
  /** -1 for the root */
  parent: number;
  depth: number;
  /** the step text in the rStar format ("" for the root) */
  step: string;
  /** execution output shown to the policy, when there is one */
  output?: string;
  /** the step's code failed (its output is the error): set only then */
  codeError?: true;
  /** N: visits, the PPM's first visit included */
  N: number;
  /** Q = W / N, null while unvisited */
  Q: number | null;
  /** the PPM's score of the step, null when unscored */
  ppm: number | null;
  terminal: 'answer' | 'code_errors' | 'too_deep' | 'invalid' | null;
  /** answer nodes: the extracted final answer and whether it matches the gold answer */
  answer?: string;
  correct?: boolean;
}

export interface ExportedTree {
  id: string;
  problem: string;
  /** the gold answer */
  answer: string;
  /** completed rollouts */
  rollouts: number;
  /** the search ended because no open node was left */
  exhausted: boolean;
  /** at least one answer node is correct */
  solved: boolean;
  /** why the search of this problem stopped early: a model refused it ("prompt too long: N tokens > M") */
  error?: string;
  nodes: ExportedNode[];
}

export interface NodeTexts {
  problem: { id: string; problem: string; answer: string };
  step: readonly string[];
  output: readonly (string | undefined)[];
  answer: readonly (string | undefined)[];
  correct: readonly (boolean | undefined)[];
  /** consecutive code errors ending at each node (0: the step's code did not fail) */
  errors: readonly number[];
  /** PPM scores the engine does not hold: terminal answers scored without the fused head */
  ppm?: readonly (number | undefined)[];
  error?: string | undefined;
}

/** Tree `tree` of the arena, whose root is node `root`. */
export function exportTree(a: TreeArrays, tree: number, root: number, rollouts: number, texts: NodeTexts): ExportedTree {
  const size = a.treeSize[tree]!;
  const nodes: ExportedNode[] = [];
  let solved = false;
  for (let i = 0; i < size; i++) {
    const x = root + i;
    const n = a.visits[x]!;
    const node: ExportedNode = {
      id: i,
      parent: a.parent[x]! < 0 ? -1 : a.parent[x]! - root,
      depth: a.depth[x]!,
      step: texts.step[i]!,
      N: n,
      Q: n > 0 ? a.valueSum[x]! / n : null,
      ppm: Number.isNaN(a.ppmValue[x]!) ? (texts.ppm?.[i] ?? null) : a.ppmValue[x]!,
      terminal: a.terminal[x]! === 0 ? null : (terminalNames[a.terminal[x]!] as ExportedNode['terminal']),
    };
    if (texts.output[i] !== undefined) node.output = texts.output[i];
    if (texts.errors[i]! > 0) node.codeError = true;
    if (texts.answer[i] !== undefined) node.answer = texts.answer[i];
    if (texts.correct[i] !== undefined) {
      node.correct = texts.correct[i];
      solved ||= texts.correct[i] === true;
    }
    nodes.push(node);
  }
  return {
    id: texts.problem.id,
    problem: texts.problem.problem,
    answer: texts.problem.answer,
    rollouts,
    exhausted: (a.flags[root]! & Flag.exhausted) !== 0,
    solved,
    ...(texts.error !== undefined ? { error: texts.error } : {}),
    nodes,
  };
}

/** The nodes from the root's child down to `node`. */
export function nodePath(t: ExportedTree, node: ExportedNode): ExportedNode[] {
  const nodes: ExportedNode[] = [];
  for (let x: ExportedNode | undefined = node; x && x.parent >= 0; x = t.nodes[x.parent]) nodes.push(x);
  return nodes.reverse();
}


/** What is wrong with a trees.jsonl line (io/jsonl.ts reopen() checks each on resume). */
export function treeLineProblem(o: Record<string, unknown>): string | undefined {
  for (const field of ['problem', 'answer'] as const) if (typeof o[field] !== 'string') return `no string "${field}"`;
  if (!Array.isArray(o['nodes']) || o['nodes'].length === 0) return 'no "nodes" list';
  if (typeof o['rollouts'] !== 'number') return 'no number "rollouts"';
  if (typeof o['solved'] !== 'boolean') return 'no boolean "solved"';
  return undefined;
}

export async function* readTrees(file: string): AsyncGenerator<ExportedTree> {
  for await (const { line, where } of jsonlLines(file)) {
    const o = parseObjectLine(line, where);
    for (const field of ['id', 'problem', 'answer', 'nodes'] as const) {
      if (!(field in o)) throw new InputError(`${where}: field "${field}" is missing (is this a trees.jsonl from rstar synth?)`);
    }
    if (!Array.isArray(o['nodes'])) throw new InputError(`${where}: field "nodes" must be a list`);
    yield o as unknown as ExportedTree;
  }
}
