// The search's options, declared once (util/options.ts derives the flags, the checks and
// what a resumed run must agree on). A new option: an entry here and its use in search.ts.
import { constants as bufferConstants } from 'node:buffer';
import { totalmem } from 'node:os';
import { UsageError } from '../errors.js';
import { checkOptions, withDefaults, type OptionTable, type OptionValues } from '../util/options.js';
import { arenaBytes, nodesPerTreeBound, SelectMode } from './tree.js';

export const deviceChoices = ['auto', 'cpu', 'cuda'] as const;
export type DeviceChoice = (typeof deviceChoices)[number];

export const searchOptionTable = {
  rollouts: { type: 'integer', min: 1, default: 16, content: true, help: 'completed rollouts per problem (fewer when the tree is exhausted first)' },
  n: { type: 'integer', min: 1, default: 12, content: true, help: 'candidate steps per expansion' },
  concurrency: { type: 'integer', min: 1, default: 64, help: 'trees searched at once' },
  rolloutsInFlight: {
    type: 'integer',
    min: 1,
    default: 4,
    // with more than one, trees also depend on how the stages batch: a resumed run continues
    // the same search, not the very trees one uninterrupted run would have grown
    content: true,
    help: 'rollouts of one tree at once, kept apart by virtual loss',
  },
  c: { type: 'number', min: 0, default: 2, content: true, help: 'UCT exploration constant' },
  maxDepth: { type: 'integer', min: 1, default: 16, content: true, help: 'a step at this depth that is not an answer ends the trajectory (too deep)' },
  mode: { type: 'choice', choices: Object.keys(SelectMode) as (keyof typeof SelectMode)[], default: 'rstar', content: true, help: 'UCT for unvisited children: rstar scores 0, classic visits first' },
  errorsThreshold: { type: 'integer', min: 1, default: 2, content: true, help: 'consecutive code errors that end a trajectory' },
  engine: { type: 'choice', choices: ['native', 'reference'], default: 'native', help: 'tree engine: the C++ addon or the TypeScript reference' },
  device: {
    type: 'choice',
    choices: deviceChoices,
    default: 'auto',
    check: (v, o) => (v === 'cuda' && o['engine'] === 'reference' ? 'needs the native engine (the reference runs on the CPU)' : undefined),
    help: 'where the native engine keeps the trees: auto takes a usable CUDA GPU, else the CPU',
  },
  policyBatch: { type: 'integer', min: 1, default: 512, help: 'most expansions in one policy call' },
  policyConcurrency: { type: 'integer', min: 1, default: 1, help: 'policy calls in flight at once (a server batches them itself)' },
  answers: {
    type: 'choice',
    choices: ['graded', 'ppm'],
    default: 'graded',
    content: true,
    internal: true,
    help: 'graded: answers are graded against the gold answer and back up +1 / -1 (synthesis); ppm: inference without ground truth, the PPM scores answers and that score backs up',
  },
} as const satisfies OptionTable;

export type SearchOptions = OptionValues<typeof searchOptionTable>;

export const searchDefaults: SearchOptions = withDefaults(searchOptionTable, {});

export function validateSearchOptions(o: SearchOptions): void {
  checkOptions(searchOptionTable, o);
  checkArenaSize(o);
}

/**
 * The arena holds `concurrency` trees of the most nodes a tree can need, allocated up front
 * (calloc: untouched pages stay unresident, but a tree may touch all of its own). Refused,
 * naming the options and the bytes, when its node indices pass int32, when one of its
 * arrays is more than a typed array may view here (Node 20: 4 GiB), or when it is more than
 * this machine's memory.
 */
function checkArenaSize(o: SearchOptions): void {
  const perTree = nodesPerTreeBound(o.rollouts, o.maxDepth, o.n);
  const nodes = perTree * o.concurrency;
  const largest = nodes * Int32Array.BYTES_PER_ELEMENT; // the widest node array
  const bytes = arenaBytes(o.concurrency, perTree);
  let why: string | undefined;
  if (nodes > 0x7fffffff) why = `more nodes than int32 node indices reach (${0x7fffffff})`;
  else if (bytes > totalmem()) why = `more than this machine's memory (${totalmem()} bytes)`;
  else if (largest > bufferConstants.MAX_LENGTH) why = `arrays of ${largest} bytes, more than a JavaScript typed array may view here (${bufferConstants.MAX_LENGTH} bytes)`;
  if (why === undefined) return;
  throw new UsageError(
    `the tree arena for --rollouts ${o.rollouts} × --max-depth ${o.maxDepth} × --n ${o.n} + 1 = ${perTree} nodes per tree × --concurrency ${o.concurrency} ` +
      `= ${nodes} nodes needs ${bytes} bytes (${(bytes / 2 ** 30).toFixed(1)} GiB): ${why}; lower --rollouts, --n, --max-depth or --concurrency`,
  );
}
