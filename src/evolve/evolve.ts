// `rstar evolve`: rounds of rStar-Math self-evolution in one resumable command. Round r:
//   synth   the latest policy (and from round 2 the latest PPM) searches the pool
//           (DIR/round-r/synth/trees.jsonl, the same search as `rstar synth`);
//   select  SFT trajectories and PPM pairs from each pool problem's latest tree (this round's,
//           or an earlier round's for a problem this round did not search), and the
//           ecosystem's formats;
//   train   the next policy (from the bootstrap, or the previous round's), then the next PPM
//           from that policy;
//   eval    the new policy greedy, and MCTS with the new policy and PPM, on each eval set;
//   report  DIR/rounds.jsonl, DIR/REPORT.md, DIR/plot.svg, rewritten whole from the state.
// A server policy (openai:URL#MODEL) is served by the config's serve command on the weights
// each stage uses, and stopped before training (serve.ts).
// Each finished stage is recorded in DIR/state.json (written atomically); a rerun continues at
// the first unfinished stage, and the stages resume inside themselves (synth and eval from
// their JSONL, the builtin trainer from its checkpoint), so a kill at any point loses little.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { openPpm } from '../backends/open.js';
import { backendOptionTable } from '../backends/options.js';
import { readTrees } from '../engine/export.js';
import { searchOptionTable } from '../engine/options.js';
import { InputError, Interrupted } from '../errors.js';
import { writeJsonAtomic, writeTextAtomic } from '../io/atomic.js';
import { lockOutput } from '../io/lock.js';
import { readProblems, type Problem } from '../io/problems.js';
import { evaluate, type EvalSummary } from '../run/evaluate.js';
import { synthesize } from '../run/synthesize.js';
import { contentOf, withDefaults } from '../util/options.js';
import { evolveOptionTable, roundSettings, type EvolveConfig, type RoundSettings } from './config.js';
import { preferenceRow, promptCompletion, stepwiseRows } from './exports.js';
import { writeReport } from './report.js';
import { serverUrl, withPolicy } from './serve.js';
import { pairAccuracy, readStepPairs, type PairAccuracy } from './pair-accuracy.js';
import { answerPairs, pairLine, preferencePairs, sftExamples, verifiedExamples, type StepPair } from './training-data.js';
import { train } from './train.js';

export type Stage = 'synth' | 'select' | 'train' | 'eval';

export interface RoundState {
  settings: RoundSettings;
  synth?: {
    problems: number;
    solved: number;
    poolSolved: number;
    pool: number;
    /** by the pool problems' level, where they give one: solved in rounds 1..r, and in all */
    poolByLevel?: Record<string, { solved: number; pool: number }>;
    rollouts: number;
    seconds: number;
    rolloutsPerSecond: number;
  };
  /** reviewer: the reviewer PPM's own trajectories, where it takes all verified ones (reviewerTrajectories) */
  select?: { sft: number; reviewer?: number; pairs: number; heldOutPairs: number; stepwise: number; seconds: number };
  train?: { policy: Record<string, unknown>; ppm: Record<string, unknown>; seconds: number };
  /** pairs: the round's PPM on the held-out pairs, scored by the engine (pair-accuracy.ts; absent from runs made before it was) */
  eval?: { sets: Record<string, { greedy: EvalSummary; mcts: EvalSummary }>; pairs?: PairAccuracy; seconds: number };
}

export interface EvolveState {
  /** the settings that decide what the rounds write: a rerun must agree for the rounds done */
  content: Record<string, unknown>;
  /** round 0: the bootstrap policy greedy on each eval set, the curve's starting point */
  baseline?: { sets: Record<string, EvalSummary> };
  rounds: Record<string, RoundState>;
}

export async function evolve(config: EvolveConfig, out: string, progress: boolean): Promise<EvolveState> {
  await mkdir(out, { recursive: true });
  const unlock = lockOutput(out);
  try {
    const stateFile = join(out, 'state.json');
    const state = readState(stateFile, config);
    const bootstrap = serverUrl(config.policy) !== undefined ? resolve(config.weights!) : modelDir(config.policy);
    const save = async () => {
      await writeJsonAtomic(stateFile, state);
      await writeReport(out, config, state);
    };
    /** One evaluation of `policy` (a policy spec; greedy, or MCTS with the PPM dir `ppm`) on an eval set, into DIR/round-r/eval/. */
    const evaluateOn = async (r: number, [name, file]: [string, string], mode: 'greedy' | 'mcts', policy: string, ppm: string | undefined, temperature: number) => {
      const s = (await evaluate({
        run: { problems: file, out: join(out, `round-${r}`, 'eval', `${name}.${mode}`), overwrite: false, progress, ...(config.evalLimit !== undefined ? { limit: config.evalLimit } : {}) },
        search: withDefaults(searchOptionTable, { ...searchShared(config), rollouts: config.evalRollouts, n: config.evalN }),
        backend: { ...backendShared(config), policy, ppm: ppm !== undefined ? `onnx:${ppm}` : 'none', temperature },
        greedy: mode === 'greedy',
        trees: false,
        label: `round ${r}/${config.rounds} eval ${name} ${mode}`,
      }))!; // a failed evaluation throws; one stopped by a signal returns what it has, and evolve stops there
      if (s.interruptSignal !== undefined) throw new Interrupted(`stopped during round ${r}'s eval: run the same command again to resume`, s.interruptSignal);
      return s;
    };
    if (config.eval.length > 0 && !state.baseline) {
      say(`round 0/${config.rounds} eval: the bootstrap policy, greedy`);
      const sets: Record<string, EvalSummary> = {};
      await mkdir(join(out, 'round-0'), { recursive: true });
      await withPolicy(config, bootstrap, join(out, 'round-0', 'serve.log'), async (policy) => {
        for (const set of evalSets(config)) {
          sets[set[0]] = await evaluateOn(0, set, 'greedy', policy, undefined, 0);
          say(`round 0/${config.rounds} eval ${set[0]}: greedy ${pct(sets[set[0]]!.accuracy)}`);
        }
      });
      state.baseline = { sets };
      await save();
    }
    for (let r = 1; r <= config.rounds; r++) {
      const round = (state.rounds[r] ??= { settings: roundSettings(config, r) });
      const dir = join(out, `round-${r}`);
      const policyBefore = r === 1 ? bootstrap : join(out, `round-${r - 1}`, 'policy');
      const ppmBefore = join(out, `round-${r - 1}`, 'ppm');
      const label = (stage: Stage) => `round ${r}/${config.rounds} ${stage}`;
      await mkdir(dir, { recursive: true });
      const serveLog = join(dir, 'serve.log');
      if (!round.synth) {
        say(label('synth'));
        const started = performance.now();
        const pool = await roundPool(config, out, r, round.settings);
        const summary = await withPolicy(config, policyBefore, serveLog, (policy) =>
          synthesize({
            run: { problems: pool.file, out: join(dir, 'synth'), overwrite: false, progress },
            search: { ...searchShared(config), rollouts: round.settings.rollouts, n: round.settings.n },
            backend: { ...backendShared(config), policy, ppm: round.settings.ppm ? `onnx:${ppmBefore}` : 'none', temperature: round.settings.temperature },
            label: label('synth'),
          }),
        );
        if (summary.interrupted) throw new Interrupted(`stopped during ${label('synth')}: run the same command again to resume`, summary.interruptSignal!);
        // round r's trees are read once: their totals, and their solved ids on top of the earlier rounds'
        const { solvedIds: solvedNow, ...trees } = await treeTotals(join(dir, 'synth', 'trees.jsonl'));
        const solved = await solvedIds(out, r - 1);
        for (const id of solvedNow) solved.add(id);
        const poolByLevel: Record<string, { solved: number; pool: number }> = {};
        for (const [id, level] of pool.levels) {
          const l = (poolByLevel[level] ??= { solved: 0, pool: 0 });
          l.pool++;
          if (solved.has(id)) l.solved++;
        }
        round.synth = {
          ...trees,
          poolSolved: solved.size,
          pool: pool.total,
          ...(pool.levels.size > 0 ? { poolByLevel } : {}),
          seconds: (performance.now() - started) / 1000,
          rolloutsPerSecond: summary.rolloutsPerSecond,
        };
        say(`${label('synth')}: ${trees.solved} of ${trees.problems} searched problems solved; the pool ${solved.size} of ${pool.total} (${pct(solved.size / pool.total)})`);
        await save();
      }
      if (!round.select) {
        say(label('select'));
        const started = performance.now();
        const data = await select(config, out, r);
        round.select = { ...data, seconds: (performance.now() - started) / 1000 };
        say(`${label('select')}: ${data.sft} SFT examples, ${data.reviewer !== undefined ? `${data.reviewer} reviewer trajectories, ` : ''}${data.pairs} PPM pairs (${data.heldOutPairs} held out), ${data.stepwise} stepwise rows`);
        await save();
      }
      if (!round.train) {
        say(label('train'));
        const started = performance.now();
        const data = join(dir, 'data');
        const policyBase = config.trainFrom === 'base' ? bootstrap : policyBefore;
        const policy = await train(config, {
          kind: 'policy',
          data: [join(data, 'sft.jsonl'), ...config.policyData.map((f) => resolve(f))],
          rows: join(data, 'sft.prompt-completion.jsonl'),
          base: policyBase,
          out: join(dir, 'policy'),
          dir: join(dir, 'train'),
        });
        // the PPM starts from this round's policy; a reviewer learns from the same verified trajectories (or all of them)
        const extra = config.ppmData.map((f) => resolve(f));
        const ppm = await train(config, {
          base: join(dir, 'policy'),
          out: join(dir, 'ppm'),
          dir: join(dir, 'train'),
          ...(config.ppmKind === 'reviewer'
            ? { kind: 'reviewer', data: [join(data, ownReviewerData(config) ? 'reviewer.jsonl' : 'sft.jsonl'), ...extra], rows: join(data, 'sft.prompt-completion.jsonl') }
            : { kind: 'ppm', data: [join(data, 'pairs.jsonl'), ...extra], rows: join(data, 'pairs.prompt-chosen-rejected.jsonl'), evalData: join(data, 'pairs.heldout.jsonl') }),
        });
        round.train = { policy: trainFigures(policy), ppm: trainFigures(ppm), seconds: (performance.now() - started) / 1000 };
        const pairAccuracy = (round.train.ppm['eval'] as { pair_accuracy?: number } | undefined)?.pair_accuracy;
        say(`${label('train')}: done in ${round.train.seconds.toFixed(0)} s${pairAccuracy !== undefined ? `; the trainer's PPM pair accuracy ${pct(pairAccuracy)}` : ''}`);
        await save();
      }
      if (!round.eval) {
        say(label('eval'));
        const started = performance.now();
        const sets: Record<string, { greedy: EvalSummary; mcts: EvalSummary }> = {};
        await withPolicy(config, join(dir, 'policy'), serveLog, async (policy) => {
          for (const set of evalSets(config)) {
            const [name] = set;
            const temperature = round.settings.temperature;
            sets[name] = { greedy: await evaluateOn(r, set, 'greedy', policy, undefined, temperature), mcts: await evaluateOn(r, set, 'mcts', policy, join(dir, 'ppm'), temperature) };
            const { greedy, mcts } = sets[name]!;
            const found = mcts.goldFoundShare !== undefined ? `, the gold answer found ${pct(mcts.goldFoundShare)}` : '';
            say(`${label('eval')} ${name}: greedy ${pct(greedy.accuracy)}, MCTS ${pct(mcts.accuracy)} (majority vote ${pct(mcts.majorityAccuracy)}${found})`);
          }
        });
        const pairs = await measurePairs(config, join(dir, 'data', 'pairs.heldout.steps.jsonl'), join(dir, 'ppm'));
        say(`${label('eval')}: PPM pair accuracy ${pct(pairs.accuracy)} on ${pairs.pairs - pairs.refused} ${round.select.heldOutPairs > 0 ? 'held-out' : 'training'} pairs`);
        round.eval = { sets, pairs, seconds: (performance.now() - started) / 1000 };
        await save();
      }
      say(`round ${r}/${config.rounds} done -> ${join(out, 'REPORT.md')}`);
    }
    await writeReport(out, config, state);
    return state;
  } finally {
    unlock();
  }
}

/** The top line of each stage, and what it found. */
function say(line: string): void {
  console.error(`rstar evolve: ${line}`);
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The dir of an onnx:DIR policy. */
function modelDir(policy: string): string {
  return resolve(policy.slice('onnx:'.length)); // readEvolveConfig checked the prefix
}

function pick(table: object, config: EvolveConfig): Record<string, unknown> {
  const all = config as Record<string, unknown>;
  return Object.fromEntries(Object.keys(table).filter((k) => k in evolveOptionTable && all[k] !== undefined).map((k) => [k, all[k]]));
}

/** The search options evolve passes through (all but those it sets per round). */
function searchShared(config: EvolveConfig) {
  const { rollouts: _r, n: _n, answers: _a, ...shared } = pick(searchOptionTable, config);
  return shared;
}

/** The backend options evolve passes through (all but the models and the temperature). */
function backendShared(config: EvolveConfig) {
  const { policy: _p, ppm: _m, temperature: _t, ...shared } = withDefaults(backendOptionTable, pick(backendOptionTable, config));
  return shared;
}

/**
 * The state of an earlier run in `out`, or a fresh one. A rerun must agree with the settings
 * of the rounds it already ran (more rounds, or other settings for rounds not started, are fine).
 */
function readState(file: string, config: EvolveConfig): EvolveState {
  const { rounds: _rounds, round: _round, ...content } = contentOf(evolveOptionTable, config);
  if (!existsSync(file)) return { content, rounds: {} };
  let state: EvolveState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as EvolveState;
  } catch (e) {
    throw new InputError(`${file}: not the state of an rstar evolve run (${(e as Error).message}); use another --out`);
  }
  const started = Object.entries(state.rounds).filter(([, s]) => s.synth !== undefined);
  if (started.length === 0) return { content, rounds: {}, ...(state.baseline ? { baseline: state.baseline } : {}) };
  for (const key of new Set([...Object.keys(content), ...Object.keys(state.content)])) {
    if (JSON.stringify(state.content[key]) !== JSON.stringify(content[key])) {
      throw new InputError(`${file}: this run was made with field "${key}" = ${JSON.stringify(state.content[key])}, not ${JSON.stringify(content[key])}; use another --out or the same setting`);
    }
  }
  for (const [r, s] of started) {
    const now = roundSettings(config, Number(r));
    for (const key of Object.keys(now) as (keyof RoundSettings)[]) {
      if (JSON.stringify(now[key]) !== JSON.stringify(s.settings[key])) {
        throw new InputError(`${file}: round ${r} ran with ${key} = ${JSON.stringify(s.settings[key])}, not ${JSON.stringify(now[key])}; use another --out or the same setting`);
      }
    }
  }
  return state;
}

/**
 * The problems round r searches, written once to DIR/round-r/pool.jsonl (so that a resumed
 * round searches the same ones): every pool problem, or those no earlier round solved.
 */
async function roundPool(config: EvolveConfig, out: string, r: number, settings: RoundSettings): Promise<{ file: string; total: number; levels: Map<string, string> }> {
  const file = join(out, `round-${r}`, 'pool.jsonl');
  const all: Problem[] = [];
  const where = new Map<string, string>();
  const levels = new Map<string, string>();
  for (const f of config.pool) {
    for await (const p of readProblems(f)) {
      if (where.has(p.id)) throw new InputError(`${f}: problem id "${p.id}" is also in ${where.get(p.id)}: the pool's ids must be unique`);
      where.set(p.id, f);
      all.push(p);
      if (p.level !== undefined) levels.set(p.id, String(p.level));
    }
  }
  if (!existsSync(file)) {
    const solved = settings.problems === 'unsolved' ? await solvedIds(out, r - 1) : new Set<string>();
    await mkdir(join(out, `round-${r}`), { recursive: true });
    await writeTextAtomic(file, all.filter((p) => !solved.has(p.id)).map((p) => JSON.stringify(p) + '\n').join(''));
  }
  return { file, total: all.length, levels };
}

/** Ids of the pool problems solved in rounds 1..r. */
async function solvedIds(out: string, r: number): Promise<Set<string>> {
  const solved = new Set<string>();
  for (let k = 1; k <= r; k++) {
    const trees = join(out, `round-${k}`, 'synth', 'trees.jsonl');
    if (!existsSync(trees)) continue;
    for await (const t of readTrees(trees)) if (t.solved) solved.add(t.id);
  }
  return solved;
}

async function treeTotals(file: string): Promise<{ problems: number; solved: number; rollouts: number; solvedIds: Set<string> }> {
  let problems = 0;
  let rollouts = 0;
  const solvedIds = new Set<string>();
  for await (const t of readTrees(file)) {
    problems++;
    if (t.solved) solvedIds.add(t.id);
    rollouts += t.rollouts;
  }
  return { problems, solved: solvedIds.size, rollouts, solvedIds };
}

/** Whether a problem's PPM pairs are held out (a fixed share of problems, by a hash of the id). */
function heldOut(id: string, share: number): boolean {
  return createHash('sha1').update(id).digest().readUInt32BE(0) / 2 ** 32 < share;
}

/**
 * The trees round r trains on: each pool problem's latest tree, from round r when it searched
 * the problem, else from the last round that did. A round that searches the whole pool trains
 * on its own trees; one that searches only the unsolved problems (the paper's round 4) keeps
 * the solved problems' trajectories and adds what it found. Two passes over the files: the
 * ids first, so that only one round's trees are held at a time.
 */
async function* latestTrees(out: string, r: number) {
  const latest = new Map<string, number>();
  const files = Array.from({ length: r }, (_, k) => join(out, `round-${k + 1}`, 'synth', 'trees.jsonl'));
  for (const [k, file] of files.entries()) {
    if (!existsSync(file)) continue;
    for await (const t of readTrees(file)) latest.set(t.id, k);
  }
  for (const [k, file] of files.entries()) {
    if (!existsSync(file)) continue;
    for await (const t of readTrees(file)) if (latest.get(t.id) === k) yield t;
  }
}

/** Whether select writes a reviewer PPM its own data, data/reviewer.jsonl (every verified trajectory); else it learns from data/sft.jsonl. */
const ownReviewerData = (config: EvolveConfig): boolean => config.ppmKind === 'reviewer' && config.reviewerTrajectories === 'all';

/** Round r's training data from the trees it trains on (latestTrees), written whole (a rerun writes the same files). */
async function select(config: EvolveConfig, out: string, r: number) {
  const dir = join(out, `round-${r}`);
  const sft: string[] = [];
  const reviewer: string[] = [];
  const allVerified = ownReviewerData(config);
  // pairs as steps; the trainer's lines and the exports are rendered from them when written
  const pairs: StepPair[] = [];
  const held: StepPair[] = [];
  const exports = { completions: [] as string[], stepwise: [] as string[] };
  for await (const t of latestTrees(out, r)) {
    const examples = sftExamples(t, config.sftTop);
    for (const e of examples) {
      sft.push(JSON.stringify(e) + '\n');
      exports.completions.push(JSON.stringify(promptCompletion(e)) + '\n');
    }
    if (allVerified) for (const e of verifiedExamples(t)) reviewer.push(JSON.stringify(e) + '\n');
    (heldOut(t.id, config.heldOutPairs) ? held : pairs).push(...preferencePairs(t), ...answerPairs(t));
    for (const row of stepwiseRows(t)) exports.stepwise.push(JSON.stringify(row) + '\n');
  }
  const data = join(dir, 'data');
  await mkdir(data, { recursive: true });
  if (sft.length === 0) throw new InputError(`${join(dir, 'synth', 'trees.jsonl')}: no problem is solved yet, so there is nothing to train the policy on (more rollouts? an easier pool?)`);
  if (pairs.length === 0) throw new InputError(`${join(dir, 'synth', 'trees.jsonl')}: no PPM pair (no tree has both a correct and a wrong answer); more rollouts or a higher temperature give more`);
  const jsonl = <T>(xs: readonly T[], f: (x: T) => unknown) => xs.map((x) => JSON.stringify(f(x)) + '\n').join('');
  // pair accuracy is measured on these (the trainer's and the engine's); with none held out, on the training pairs
  const measured = held.length > 0 ? held : pairs;
  await writeTextAtomic(join(data, 'sft.jsonl'), sft.join(''));
  if (allVerified) await writeTextAtomic(join(data, 'reviewer.jsonl'), reviewer.join(''));
  await writeTextAtomic(join(data, 'pairs.jsonl'), jsonl(pairs, pairLine));
  await writeTextAtomic(join(data, 'pairs.heldout.jsonl'), jsonl(measured, pairLine));
  await writeTextAtomic(join(data, 'pairs.heldout.steps.jsonl'), jsonl(measured, (p) => p));
  await writeTextAtomic(join(data, 'sft.prompt-completion.jsonl'), exports.completions.join(''));
  await writeTextAtomic(join(data, 'pairs.prompt-chosen-rejected.jsonl'), jsonl(pairs, (p) => preferenceRow(pairLine(p))));
  await writeTextAtomic(join(data, 'stepwise.jsonl'), exports.stepwise.join(''));
  return { sft: sft.length, ...(allVerified ? { reviewer: reviewer.length } : {}), pairs: pairs.length, heldOutPairs: held.length, stepwise: exports.stepwise.length };
}

/** The PPM dir `ppm`'s accuracy on the pairs (as steps) in `file`, run as the search runs it. */
async function measurePairs(config: EvolveConfig, file: string, ppm: string): Promise<PairAccuracy> {
  const opened = await openPpm({ ...backendShared(config), policy: 'none', ppm: `onnx:${ppm}`, temperature: 0 }, config.device);
  try {
    return await pairAccuracy(opened.ppm, await readStepPairs(file));
  } finally {
    await opened.close();
  }
}

/** The figures of a trainer's metrics.json that the report shows. */
function trainFigures(m: Record<string, unknown>): Record<string, unknown> {
  const final = (m['final'] ?? {}) as { train?: Record<string, unknown>; eval?: Record<string, unknown> };
  return {
    ...(m['steps'] !== undefined ? { steps: m['steps'] } : {}),
    ...(m['tokens_per_s'] !== undefined ? { tokensPerSecond: m['tokens_per_s'] } : {}),
    ...(m['train_time_s'] !== undefined ? { seconds: m['train_time_s'] } : {}),
    ...(final.train ? { train: final.train } : {}),
    ...(final.eval ? { eval: final.eval } : {}),
  };
}

/** Eval sets by a name made from the file's name (made unique when two share one). */
function evalSets(config: EvolveConfig): [string, string][] {
  const seen = new Map<string, number>();
  return config.eval.map((file) => {
    let name = basename(file).replace(/\.jsonl$/, '');
    if (name === 'test' || name === 'train') name = `${basename(resolve(file, '..'))}-${name}`;
    const k = (seen.get(name) ?? 0) + 1;
    seen.set(name, k);
    return [k > 1 ? `${name}-${k}` : name, file];
  });
}
