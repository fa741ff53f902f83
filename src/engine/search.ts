// The search scheduler: `concurrency` trees at once, each with up to `rolloutsInFlight`
// rollouts held apart by virtual loss, refilled from the problem stream as trees finish.
//
// A rollout starts at its tree's root. Each time it reaches an unexpanded node it expands
// it (docs/ARCHITECTURE.md, "One rollout"): the policy writes n candidate steps, the
// verifier classifies them (and says what each shows in the next prompt), the arena
// allocates the children with their terminal kinds, the PPM scores the open children (their
// first visit) while the grader grades the answers, the values go into the tree, and the
// rollout goes on from that node by UCT over its open children. It ends when the
// node it stands on has no open child left (every child terminal or exhausted).
// Identical candidate steps become one child: a duplicate sibling would only search the same
// subtree again (and a seeded policy, keyed by the prompt, would sample it identically).
//
// Each of those steps is a Stage that takes everything waiting for it as one batch, so
// while the policy generates for one batch the verifier checks the previous one; there is
// no barrier per tree level and no tree waits for another.
//
// A model may refuse a request (a prompt longer than its context: Refused in the results of
// generate, score, hidden). That ends the problem, not the run: its tree starts no more
// rollouts, the ones in flight end at their next selection, and it is written with the
// reason as `error`.
import type { Problem } from '../io/problems.js';
import { isRefused, type Refused, type SearchBackends, type Verdict } from './backend.js';
import { exportTree, type ExportedTree } from './export.js';
import { CudaTree, cudaStatus, NativeTree } from './native.js';
import { ReferenceTree } from './reference.js';
import { TracedEngine } from './traced.js';
import { Stage, type StageStats } from './stage.js';
import { searchDefaults, validateSearchOptions, type DeviceChoice, type SearchOptions } from './options.js';
import { Flag, nodesPerTreeBound, SelectMode, SelectResult, Terminal, type Device, type TerminalKind, type TreeEngine } from './tree.js';
import { UsageError } from '../errors.js';
import type { Timeline } from '../util/trace.js';

export interface SearchStats {
  problems: number;
  solved: number;
  rollouts: number;
  expansions: number;
  nodes: number;
  /** rollouts that found the tree exhausted before expanding anything */
  voidRollouts: number;
  /** candidate steps dropped because a sibling from the same expansion had the same text */
  duplicateSteps: number;
  /** trees dropped unwritten by abandon() (a stop that could not wait for them) */
  abandonedTrees: number;
  /** problems ended by a model's refusal (their trees carry the reason as `error`) */
  refusedProblems: number;
  elapsedMs: number;
  stages: Record<string, StageStats>;
}

export interface FinishedTree {
  tree: ExportedTree;
  /** this tree's wall time from first rollout to last */
  ms: number;
}

interface ActiveTree {
  problem: Problem;
  tree: number;
  root: number;
  started: number;
  completed: number;
  inFlight: number;
  parked: Rollout[];
  finished: boolean;
  startedAt: number;
  /** why a model refused this problem: the tree stops and is written with it */
  error?: string;
  // Per node, by index within the tree. parent and terminal are what the search itself gave
  // the engine at expand; kept here, they are never read back from it (on the GPU that would
  // be a transfer per batch). A node's depth is its trajectory's length.
  /** the parent's index within the tree; -1 at the root */
  parent: number[];
  terminal: TerminalKind[];
  step: string[];
  /** the step as the next prompt shows it (the verifier's Verdict.shown) */
  shown: string[];
  output: (string | undefined)[];
  answer: (string | undefined)[];
  correct: (boolean | undefined)[];
  errors: number[];
  ppm: (number | undefined)[];
}

interface Rollout {
  tree: ActiveTree;
  /** the node the rollout stands on; it holds virtual loss from there up to the root */
  node: number;
  expansions: number;
}

interface Expansion {
  rollout: Rollout;
  leaf: number;
  /** the trajectory from the root to the leaf */
  steps: string[];
  candidates: string[];
  first: number;
  scoreNodes: number[];
  scoreValues: number[];
  /** a fused PPM's hidden rows for scoreNodes, scored in backup */
  scoreHidden?: Float32Array;
  gradeNodes: number[];
  gradeValues: number[];
  /** invalid terminals: they back up -1 onto themselves */
  invalidNodes: number[];
  joins: number;
  /** the policy refused the prompt: the leaf gets no children and the tree stops */
  refused?: boolean;
}

/** Where the trees go, and why: cuda only with the native engine and a usable device. */
export function chooseDevice(engine: 'native' | 'reference', choice: DeviceChoice): { device: Device; reason: string } {
  if (engine === 'reference') return { device: 'cpu', reason: 'the reference engine runs on the CPU' };
  if (choice === 'cpu') return { device: 'cpu', reason: 'asked for' };
  const status = cudaStatus();
  if (status.usable) return { device: 'cuda', reason: `${choice === 'auto' ? 'auto: ' : ''}${status.device}` };
  // An option this machine cannot honour: reported like any bad option value.
  if (choice === 'cuda') throw new UsageError(`device cuda: no usable CUDA device: ${status.reason}`);
  return { device: 'cpu', reason: `auto: no usable CUDA device: ${status.reason}` };
}

/** Search options checked once, with the device the trees will live on (planSearch). */
export interface SearchPlan {
  readonly options: Readonly<SearchOptions>;
  readonly device: Device;
  /** why that device */
  readonly deviceReason: string;
}

const plans = new WeakSet<SearchPlan>();

/** Fills in the defaults, checks the options and picks the device: everything a search can refuse before it starts. */
export function planSearch(given: Partial<SearchOptions>): SearchPlan {
  const options = Object.freeze({ ...searchDefaults, ...given });
  validateSearchOptions(options);
  const { device, reason } = chooseDevice(options.engine, options.device);
  const plan = Object.freeze({ options, device, deviceReason: reason });
  plans.add(plan);
  return plan;
}

export function createEngine(kind: 'native' | 'reference', trees: number, nodesPerTree: number, device: Device = 'cpu'): TreeEngine {
  if (kind === 'reference') return new ReferenceTree(trees, nodesPerTree);
  return device === 'cuda' ? new CudaTree(trees, nodesPerTree) : new NativeTree(trees, nodesPerTree);
}

export class Search {
  readonly options: Readonly<SearchOptions>;
  readonly engine: TreeEngine;
  /** why the engine's device was chosen */
  readonly deviceReason: string;
  readonly stats: SearchStats;
  private readonly active = new Set<ActiveTree>();
  private readonly select: Stage<Rollout>;
  private readonly expand: Stage<Expansion>;
  private readonly verify: Stage<Expansion>;
  private readonly score: Stage<Expansion>;
  private readonly grade: Stage<Expansion>;
  private readonly backup: Stage<Expansion>;
  private input!: AsyncIterator<Problem>;
  private inputDone = false;
  private filling = false;
  /** stop() was called: no new problem is taken */
  private stopping = false;
  /** a fatal error, or abandon(): no new rollout starts, no tree is written */
  private error: unknown;
  /** a bad input line: the trees in flight are finished and written, then the run fails */
  private inputError: unknown;
  private writes: Promise<void> = Promise.resolve();
  private settle!: { resolve: () => void; reject: (e: unknown) => void };
  private startedAt = 0;

  constructor(
    /** a plan (planSearch), or the options to plan with */
    options: SearchPlan | Partial<SearchOptions>,
    private readonly backends: SearchBackends,
    private readonly onTree: (finished: FinishedTree) => Promise<void> | void,
    /** where the stages' batches and the engine's calls are timed: a --trace file, or a benchmark's tally (util/trace.ts) */
    private readonly trace?: Timeline,
  ) {
    const plan = plans.has(options as SearchPlan) ? (options as SearchPlan) : planSearch(options as Partial<SearchOptions>);
    this.options = plan.options;
    const o = this.options;
    if (o.answers === 'ppm' && !backends.ppm) throw new UsageError('answers ppm (inference without ground truth) needs a PPM to score the answers');
    const engine = createEngine(o.engine, o.concurrency, nodesPerTreeBound(o.rollouts, o.maxDepth, o.n), plan.device);
    this.engine = trace ? new TracedEngine(engine, trace) : engine;
    this.deviceReason = plan.deviceReason;
    const fail = (e: unknown) => this.fail(e);
    // After a fatal error every stage drops its work: the run has already failed.
    const live =
      <T>(run: (batch: T[]) => Promise<void> | void) =>
      (batch: T[]) =>
        this.error === undefined ? run(batch) : undefined;
    this.select = new Stage('select', live((b) => this.runSelect(b)), fail, Infinity, 1, trace);
    this.expand = new Stage('expand', live((b) => this.runExpand(b)), fail, o.policyBatch, o.policyConcurrency, trace);
    this.verify = new Stage('verify', live((b) => this.runVerify(b)), fail, Infinity, 1, trace);
    this.score = new Stage('score', live((b) => this.runScore(b)), fail, Infinity, 1, trace);
    this.grade = new Stage('grade', live((b) => this.runGrade(b)), fail, Infinity, 1, trace);
    this.backup = new Stage('backup', live((b) => this.runBackup(b)), fail, Infinity, 1, trace);
    const stages = [this.select, this.expand, this.verify, this.score, this.grade, this.backup];
    this.stats = {
      problems: 0,
      solved: 0,
      rollouts: 0,
      expansions: 0,
      nodes: 0,
      voidRollouts: 0,
      duplicateSteps: 0,
      abandonedTrees: 0,
      refusedProblems: 0,
      elapsedMs: 0,
      stages: Object.fromEntries(stages.map((s) => [s.name, s.stats])),
    };
  }

  /** Searches every problem of the stream; resolves once the last tree has been handed to onTree. */
  run(problems: AsyncIterable<Problem>): Promise<SearchStats> {
    this.input = problems[Symbol.asyncIterator]();
    this.startedAt = performance.now();
    return new Promise<SearchStats>((resolve, reject) => {
      this.settle = { resolve: () => resolve(this.stats), reject };
      void this.fill();
    });
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  /** Trees being searched now. */
  get activeTrees(): number {
    return this.active.size;
  }

  /** Takes no new problem; run() resolves once the trees in flight are finished and written. */
  stop(): void {
    this.stopping = true;
    this.inputDone = true;
    this.checkDone();
  }

  /**
   * Drops the trees in flight unwritten (a stop that cannot wait for them): run() resolves
   * once the trees already handed to onTree are written. Their problems are searched again
   * by a resumed run.
   */
  abandon(): void {
    this.stop();
    if (this.error !== undefined) return;
    this.error = new Error('abandoned'); // stops every stage, as a fatal error does
    this.stats.abandonedTrees = this.active.size;
    this.stats.elapsedMs = this.elapsedMs();
    void this.writes.then(() => this.settle.resolve(), this.settle.reject);
  }

  private fail(e: unknown): void {
    if (this.error !== undefined) return;
    this.error = e;
    // Trees already handed over are written in full before the error surfaces.
    void this.writes.then(() => this.settle.reject(e), () => this.settle.reject(e));
  }

  private async fill(): Promise<void> {
    if (this.filling) return;
    this.filling = true;
    try {
      while (!this.inputDone && this.error === undefined && this.active.size < this.options.concurrency) {
        const next = await this.input.next();
        if (next.done) this.inputDone = true;
        else if (!this.stopping) this.startTree(next.value);
      }
    } catch (e) {
      this.inputDone = true;
      this.inputError = e;
    } finally {
      this.filling = false;
    }
    this.checkDone();
  }

  private checkDone(): void {
    if (!this.inputDone || this.active.size > 0 || this.filling) return;
    this.stats.elapsedMs = this.elapsedMs();
    const error = this.error ?? this.inputError;
    void this.writes.then(() => (error === undefined ? this.settle.resolve() : this.settle.reject(error)), this.settle.reject);
  }

  private startTree(problem: Problem): void {
    const tree = this.engine.acquire();
    if (tree < 0) throw new Error('internal: no free tree although fewer than `concurrency` are active');
    const t: ActiveTree = {
      problem,
      tree,
      root: tree * this.engine.nodesPerTree,
      started: 0,
      completed: 0,
      inFlight: 0,
      parked: [],
      finished: false,
      startedAt: performance.now(),
      parent: [-1],
      terminal: [Terminal.none],
      step: [''],
      shown: [''],
      output: [undefined],
      answer: [undefined],
      correct: [undefined],
      errors: [0],
      ppm: [undefined],
    };
    this.active.add(t);
    this.launch(t, 0); // a fresh root
  }

  /** Starts rollouts while the tree has room for them; rootFlags: its root's, read from the engine. */
  private launch(t: ActiveTree, rootFlags: number): void {
    const o = this.options;
    const exhausted = (rootFlags & Flag.exhausted) !== 0;
    while (!exhausted && t.error === undefined && t.inFlight < o.rolloutsInFlight && t.started < o.rollouts && this.error === undefined) {
      t.started++;
      t.inFlight++;
      this.select.push({ tree: t, node: t.root, expansions: 0 });
    }
    if (t.inFlight === 0) this.finishTree(t);
  }

  private runSelect(all: Rollout[]): void {
    this.trace?.counter('trees searched', this.trace.now(), { trees: this.active.size });
    // a refused tree's rollouts end here, where they hold no pending expansion
    const ended = all.filter((r) => r.tree.error !== undefined);
    const batch = ended.length > 0 ? all.filter((r) => r.tree.error === undefined) : all;
    const starts = Int32Array.from(batch, (r) => r.node);
    const leaves = new Int32Array(batch.length);
    this.engine.select(starts, leaves, SelectMode[this.options.mode], this.options.c);
    batch.forEach((r, i) => {
      const leaf = leaves[i]!;
      if (leaf >= 0) {
        r.node = leaf;
        this.expand.push(newExpansion(r, leaf));
      } else if (leaf === SelectResult.blocked) {
        r.tree.parked.push(r);
      } else {
        ended.push(r);
      }
    });
    if (ended.length === 0) return;
    this.engine.unwind(Int32Array.from(ended, (r) => r.node));
    const rootFlags = new Uint8Array(ended.length);
    this.engine.readFlags(Int32Array.from(ended, (r) => r.tree.root), rootFlags);
    ended.forEach((r, i) => {
      const t = r.tree;
      t.inFlight--;
      if (r.expansions > 0) {
        t.completed++;
        this.stats.rollouts++;
      } else {
        this.stats.voidRollouts++;
      }
      this.launch(t, rootFlags[i]!);
    });
  }

  private async runExpand(batch: Expansion[]): Promise<void> {
    const { n } = this.options;
    const policy = this.backends.policy;
    for (const e of batch) e.steps = this.trajectory(e.rollout.tree, e.leaf);
    const requests = batch.map((e) => ({ problem: e.rollout.tree.problem, steps: e.steps, n }));
    const out = await policy.generate(requests);
    if (out.length !== batch.length) throw new Error(`policy ${policy.name}: ${out.length} results for ${batch.length} requests`);
    batch.forEach((e, i) => {
      const candidates = out[i];
      if (isRefused(candidates)) {
        // the leaf is expanded with no children (so no longer pending) and the tree stops
        this.refuse(e.rollout.tree, candidates.refused);
        e.refused = true;
        this.verify.push(e);
        return;
      }
      if (!Array.isArray(candidates) || candidates.length > n || candidates.some((c) => typeof c !== 'string')) {
        throw new Error(`policy ${policy.name}: request ${i} must give at most ${n} candidate steps as strings`);
      }
      e.candidates = [...new Set(candidates)];
      this.stats.duplicateSteps += candidates.length - e.candidates.length;
      this.verify.push(e);
    });
  }

  private async runVerify(batch: Expansion[]): Promise<void> {
    const { maxDepth, errorsThreshold } = this.options;
    const verifier = this.backends.verifier;
    const requests = batch.flatMap((e) => e.candidates.map((step) => ({ problem: e.rollout.tree.problem, steps: e.steps, step })));
    const verdicts = requests.length > 0 ? await verifier.verify(requests) : []; // refused expansions have no steps
    if (verdicts.length !== requests.length) throw new Error(`verifier ${verifier.name}: ${verdicts.length} verdicts for ${requests.length} steps`);

    const kinds = new Uint8Array(requests.length);
    const errors = new Int32Array(requests.length);
    let k = 0;
    for (const e of batch) {
      const t = e.rollout.tree;
      const depth = e.steps.length + 1; // the leaf's trajectory, then the candidate
      const parentErrors = t.errors[e.leaf - t.root]!;
      for (let j = 0; j < e.candidates.length; j++, k++) {
        const v = verdicts[k]!;
        errors[k] = v.kind === 'error' ? parentErrors + 1 : 0;
        kinds[k] = terminalKind(v, errors[k]!, errorsThreshold, depth, maxDepth);
      }
    }
    const leaves = Int32Array.from(batch, (e) => e.leaf);
    const counts = Int32Array.from(batch, (e) => e.candidates.length);
    const first = new Int32Array(batch.length);
    this.engine.expand(leaves, counts, kinds, first);

    k = 0;
    batch.forEach((e, i) => {
      const t = e.rollout.tree;
      e.first = first[i]!;
      for (let j = 0; j < e.candidates.length; j++, k++) {
        const node = e.first + j;
        const v: Verdict = verdicts[k]!;
        t.step.push(e.candidates[j]!);
        t.shown.push(v.shown);
        t.output.push(v.output);
        t.answer.push(v.answer);
        t.correct.push(undefined);
        t.errors.push(errors[k]!);
        t.ppm.push(undefined);
        const kind = kinds[k]! as TerminalKind;
        t.parent.push(e.leaf - t.root);
        t.terminal.push(kind);
        if (kind === Terminal.none) {
          if (this.backends.ppm) e.scoreNodes.push(node);
        } else if (kind === Terminal.answer) {
          if (this.options.answers === 'ppm') e.scoreNodes.push(node);
          else e.gradeNodes.push(node);
        } else {
          e.invalidNodes.push(node);
        }
      }
      this.stats.nodes += e.candidates.length;
      e.joins = (e.scoreNodes.length > 0 ? 1 : 0) + (e.gradeNodes.length > 0 ? 1 : 0);
      if (e.scoreNodes.length > 0) this.score.push(e);
      if (e.gradeNodes.length > 0) this.grade.push(e);
      if (e.joins === 0) this.backup.push(e);
    });
  }

  private async runScore(batch: Expansion[]): Promise<void> {
    const ppm = this.backends.ppm!;
    const requests = batch.flatMap((e) => {
      const t = e.rollout.tree;
      return e.scoreNodes.map((node) => ({ problem: t.problem, steps: [...e.steps, t.step[node - t.root]!] }));
    });
    // A refused step stops its tree and goes unscored: an open node keeps N = 0, a terminal
    // answer (inference) backs up nothing.
    const drop = (e: Expansion, refused: (Refused | undefined)[], k: number): number[] => {
      const kept: number[] = [];
      e.scoreNodes.forEach((_, j) => {
        const r = refused[k + j];
        if (r) this.refuse(e.rollout.tree, r.refused);
        else kept.push(j);
      });
      if (kept.length < e.scoreNodes.length) e.scoreNodes = kept.map((j) => e.scoreNodes[j]!);
      return kept;
    };
    if (ppm.head && ppm.hidden) {
      const H = ppm.head.weight.length;
      const { hidden, refused } = await ppm.hidden(requests);
      if (hidden.length !== requests.length * H) throw new Error(`ppm ${ppm.name}: ${hidden.length} hidden floats for ${requests.length} steps of ${H}`);
      let k = 0;
      for (const e of batch) {
        const count = e.scoreNodes.length;
        const kept = drop(e, refused, k);
        e.scoreHidden = kept.length === count ? hidden.subarray(k * H, (k + count) * H) : gatherRows(hidden, kept.map((j) => k + j), H);
        k += count;
        this.join(e);
      }
      return;
    }
    const scores = await ppm.score(requests);
    if (scores.length !== requests.length) throw new Error(`ppm ${ppm.name}: ${scores.length} scores for ${requests.length} steps`);
    const refused = scores.map((s) => (isRefused(s) ? s : undefined));
    let k = 0;
    for (const e of batch) {
      const count = e.scoreNodes.length;
      for (const j of drop(e, refused, k)) {
        const s = scores[k + j] as number;
        if (!(s >= -1 && s <= 1)) throw new Error(`ppm ${ppm.name}: score ${s} is outside [-1, 1]`);
        e.scoreValues.push(s);
      }
      k += count;
      this.join(e);
    }
  }

  /** Ends the problem: the first reason is kept; no rollout starts, those in flight end. */
  private refuse(t: ActiveTree, reason: string): void {
    if (t.error !== undefined) return;
    t.error = reason;
    this.stats.refusedProblems++;
  }

  private async runGrade(batch: Expansion[]): Promise<void> {
    const grader = this.backends.grader;
    const requests = batch.flatMap((e) => {
      const t = e.rollout.tree;
      return e.gradeNodes.map((node) => ({ answer: t.answer[node - t.root]!, gold: t.problem.answer }));
    });
    const results = await grader.grade(requests);
    if (results.length !== requests.length) throw new Error(`grader ${grader.name}: ${results.length} results for ${requests.length} answers`);
    let k = 0;
    for (const e of batch) {
      const t = e.rollout.tree;
      for (const node of e.gradeNodes) {
        const correct = results[k++] === true;
        t.correct[node - t.root] = correct;
        e.gradeValues.push(correct ? 1 : -1);
      }
      this.join(e);
    }
  }

  private join(e: Expansion): void {
    if (--e.joins === 0) this.backup.push(e);
  }

  private runBackup(batch: Expansion[]): void {
    const fused = batch.filter((e) => e.scoreHidden !== undefined);
    if (fused.length > 0) {
      // the head runs in the engine and writes each score as the node's first visit
      const head = this.backends.ppm!.head!;
      const nodes = Int32Array.from(fused.flatMap((e) => e.scoreNodes));
      const hidden = new Float32Array(nodes.length * head.weight.length);
      let at = 0;
      for (const e of fused) {
        hidden.set(e.scoreHidden!, at);
        at += e.scoreHidden!.length;
      }
      this.engine.scoreFused(nodes, hidden, head.weight, head.bias, new Float32Array(nodes.length));
    }
    // Scores of open nodes are their first visit; a scored answer (inference) backs up its
    // score like a graded one, and the tree keeps it for the export.
    const open: number[] = [];
    const openValues: number[] = [];
    const nodes: number[] = [];
    const values: number[] = [];
    for (const e of batch) {
      if (e.scoreHidden === undefined) {
        const t = e.rollout.tree;
        e.scoreNodes.forEach((node, j) => {
          const v = e.scoreValues[j]!;
          if (t.terminal[node - t.root] === Terminal.none) {
            open.push(node);
            openValues.push(v);
          } else {
            nodes.push(node);
            values.push(v);
            t.ppm[node - t.root] = Math.fround(v);
          }
        });
      }
      nodes.push(...e.gradeNodes, ...e.invalidNodes);
      values.push(...e.gradeValues, ...e.invalidNodes.map(() => -1));
    }
    if (open.length > 0) this.engine.initValues(Int32Array.from(open), Float32Array.from(openValues));
    if (nodes.length > 0) this.engine.backup(Int32Array.from(nodes), Float32Array.from(values));
    const touched = new Set<ActiveTree>();
    for (const e of batch) {
      if (!e.refused) {
        e.rollout.expansions++;
        this.stats.expansions++;
      }
      this.select.push(e.rollout);
      touched.add(e.rollout.tree);
    }
    // A rollout parked behind a pending expansion may go on now that one has landed.
    for (const t of touched) {
      for (const r of t.parked) this.select.push(r);
      t.parked = [];
    }
  }

  /** The steps from the root to node, in order, as the context shows them (Verdict.shown). */
  private trajectory(t: ActiveTree, node: number): string[] {
    const steps: string[] = [];
    for (let x = node - t.root; x > 0; x = t.parent[x]!) steps.push(t.shown[x]!);
    return steps.reverse();
  }

  private finishTree(t: ActiveTree): void {
    if (t.finished || this.error !== undefined) return;
    t.finished = true;
    this.engine.sync([t.tree]);
    this.checkReleased(t);
    const tree = exportTree(this.engine.arrays, t.tree, t.root, t.completed, t);
    this.engine.release(t.tree);
    this.backends.verifier.forget?.(t.problem.id);
    this.backends.policy.forget?.(t.problem.id);
    this.backends.ppm?.forget?.(t.problem.id);
    this.active.delete(t);
    this.stats.problems++;
    if (tree.solved) this.stats.solved++;
    const finished: FinishedTree = { tree, ms: performance.now() - t.startedAt };
    this.writes = this.writes.then(() => this.onTree(finished));
    this.writes.catch((e) => this.fail(e));
    void this.fill();
  }

  // Every rollout of a finished tree has ended: no virtual loss or pending node may remain.
  private checkReleased(t: ActiveTree): void {
    const a = this.engine.arrays;
    const end = t.root + a.treeSize[t.tree]!;
    for (let x = t.root; x < end; x++) {
      if (a.virtualLoss[x] !== 0 || a.flags[x]! & Flag.pending) {
        throw new Error(`internal: tree of problem ${t.problem.id} finished with virtual loss or a pending expansion at node ${x - t.root}`);
      }
    }
  }
}

/** The rows `rows` of a [*, width] array, in order. */
function gatherRows(a: Float32Array, rows: number[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(a.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

function newExpansion(rollout: Rollout, leaf: number): Expansion {
  return { rollout, leaf, steps: [], candidates: [], first: -1, scoreNodes: [], scoreValues: [], gradeNodes: [], gradeValues: [], invalidNodes: [], joins: 0 };
}

function terminalKind(v: Verdict, errors: number, errorsThreshold: number, depth: number, maxDepth: number): number {
  if (v.kind === 'answer') return Terminal.answer;
  if (v.kind === 'invalid') return Terminal.invalid;
  if (errors >= errorsThreshold) return Terminal.codeErrors;
  if (depth >= maxDepth) return Terminal.tooDeep;
  return Terminal.none;
}
