// `rstar synth`: MCTS over every problem of a JSONL file, one finished tree a line.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { chooseDevice, Search, searchDefaults, validateSearchOptions } from '../engine/search.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { JsonlAppender, rejectedFile, reopen } from '../io/jsonl.js';
import { lockOutput } from '../io/lock.js';
import { treeLineProblem } from '../engine/export.js';
import { countProblems, InputError, readProblems, type Problem } from '../io/problems.js';
import { defaultModel, modelOptions, openBackends, searchFromArgs, searchOptions } from '../backends/open.js';
import { handleInterrupts } from '../run/interrupt.js';
import { progressBar } from '../run/progress.js';

export function synthOptions(y: Argv) {
  return searchOptions(modelOptions(y, { policy: defaultModel('policy'), ppm: defaultModel('ppm') }))
    .option('problems', { type: 'string', demandOption: true, describe: 'problems JSONL: {"id","problem","answer"} a line' })
    .option('out', { type: 'string', demandOption: true, describe: 'output directory (trees.jsonl, stats.json, run.json)' })
    .option('limit', { type: 'number', describe: 'only the first N problems' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'start over instead of resuming an earlier run in --out' })
    .option('progress', { type: 'boolean', default: true, describe: 'show a progress bar' });
}

type SynthArgs = Awaited<ReturnType<ReturnType<typeof synthOptions>['parseAsync']>>;

export async function synth(args: SynthArgs): Promise<void> {
  const search = searchFromArgs(args);
  // Everything that can be refused is checked before anything is written.
  validateSearchOptions({ ...searchDefaults, ...search });
  const device = chooseDevice(args.engine, args.device);
  let total = await countProblems(args.problems);
  const out = args.out;
  const treesFile = join(out, 'trees.jsonl');
  const runFile = join(out, 'run.json');
  const statsFile = join(out, 'stats.json');
  // The model options are checked (and the models loaded) before anything is written.
  const { backends, content, stats: modelStats, close } = await openBackends(args);
  let unlock = () => {};
  try {
    await mkdir(out, { recursive: true });
    unlock = lockOutput(out);
    // What decides the trees' content: a resumed run must agree on all of it. With more than
    // one rollout in flight, trees also depend on how the stages batch, so a resumed run
    // continues the same search, not the very trees one uninterrupted run would have grown.
    const settings = {
      policy: args.policy,
      ppm: args.ppm,
      rollouts: args.rollouts,
      n: args.n,
      rolloutsInFlight: args['rollouts-in-flight'],
      c: args.c,
      maxDepth: args['max-depth'],
      mode: args.mode,
      errorsThreshold: args['errors-threshold'],
      ...content,
    };
    console.error(`rstar: ${args.engine} tree engine on ${device.device} (${device.reason})`);
    if (args.overwrite) await rm(treesFile, { force: true });
    else await checkSameRun(runFile, settings);
    const { ids: done, cut, rejected } = await reopen(treesFile, treeLineProblem);
    if (cut > 0) console.error(`rstar: cut a torn last line (${cut} bytes) from ${treesFile}`);
    if (rejected > 0) console.error(`rstar: moved ${rejected} bad lines of ${treesFile} to ${rejectedFile(treesFile)}; their problems are searched again`);
    if (done.size > 0) console.error(`rstar: resuming: ${done.size} problems already in ${treesFile}`);
    await writeJsonAtomic(runFile, { ...settings, problems: args.problems });

    if (args.limit !== undefined) total = Math.min(total, args.limit);
    const todo = Math.max(0, total - done.size);
    const writer = await JsonlAppender.open(treesFile);
    const searcher = new Search(search, backends, ({ tree }) => writer.append(tree));
    const interrupt = handleInterrupts(searcher);
    const bar = args.progress
      ? progressBar('synth |{bar}| {value}/{total} problems | {rps} rollouts/s | {solved} solved | {duration_formatted} elapsed, ETA {left}', todo, { rps: '0', solved: 0 })
      : undefined;
    const tick = setInterval(() => bar?.update(searcher.stats.problems, rates(searcher)), 500);
    let failure: unknown;
    try {
      await searcher.run(remaining(readProblems(args.problems), done, args.limit));
    } catch (e) {
      failure = e;
    }
    clearInterval(tick);
    bar?.update(searcher.stats.problems, rates(searcher));
    bar?.stop();
    // Partial totals are worth keeping too: a failed or interrupted run says how far it got.
    // The first failure is the one reported (on a full disk trees.jsonl fails, then stats.json).
    const s = summary(searcher, done.size, failure !== undefined, interrupt.signal);
    const models = await modelStats().catch((e: unknown) => ({ error: String(e) }));
    for (const step of [() => writer.close(), () => writeJsonAtomic(statsFile, { ...s, models })]) {
      try {
        await step();
      } catch (e) {
        failure ??= e;
      }
    }
    interrupt.dispose();
    if (failure !== undefined) throw failure;
    report(s, treesFile);
  } finally {
    await close();
    unlock();
  }
}

function report(s: ReturnType<typeof summary>, treesFile: string): void {
  console.error(
    `rstar: ${s.problems} problems (${s.solved} solved), ${s.rollouts} rollouts, ${s.expansions} expansions in ${s.seconds.toFixed(2)} s: ` +
      `${s.rolloutsPerSecond.toFixed(0)} rollouts/s, ${s.problemsPerSecond.toFixed(1)} problems/s -> ${treesFile}`,
  );
}

async function checkSameRun(runFile: string, run: Record<string, unknown>): Promise<void> {
  let text: string;
  try {
    text = await readFile(runFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // no earlier run
    throw new InputError(`${runFile}: cannot read the earlier run's settings (${(e as Error).message}); fix or remove it, or pass --overwrite`);
  }
  let before: Record<string, unknown>;
  try {
    before = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    // resuming over settings no one can read could mix two runs in one trees.jsonl
    throw new InputError(`${runFile}: the earlier run's settings are not JSON (${(e as Error).message}); fix or remove it, or pass --overwrite`);
  }
  for (const [key, value] of Object.entries(run)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(value)) {
      throw new InputError(
        `${runFile}: this directory holds a run with ${key} = ${JSON.stringify(before[key])}, not ${JSON.stringify(value)}; ` +
          'use another --out, the same settings, or --overwrite',
      );
    }
  }
}

async function* remaining(problems: AsyncGenerator<Problem>, done: Set<string>, limit: number | undefined): AsyncGenerator<Problem> {
  let seen = 0;
  for await (const p of problems) {
    if (limit !== undefined && seen++ >= limit) return;
    if (!done.has(p.id)) yield p;
  }
}

function rates(s: Search) {
  const seconds = Math.max(1e-3, s.elapsedMs() / 1000);
  return { rps: (s.stats.rollouts / seconds).toFixed(0), solved: s.stats.solved };
}


function summary(s: Search, resumed: number, failed: boolean, interrupted: NodeJS.Signals | undefined) {
  const st = s.stats;
  const seconds = s.elapsedMs() / 1000;
  return {
    /** problems finished by this invocation; totalProblems adds those of earlier ones */
    problems: st.problems,
    resumedProblems: resumed,
    totalProblems: st.problems + resumed,
    failed,
    /** stopped by a signal (its name in interruptSignal); abandonedTrees were dropped unwritten */
    interrupted: interrupted !== undefined,
    ...(interrupted !== undefined ? { interruptSignal: interrupted, abandonedTrees: st.abandonedTrees } : {}),
    solved: st.solved,
    rollouts: st.rollouts,
    voidRollouts: st.voidRollouts,
    duplicateSteps: st.duplicateSteps,
    /** problems a model refused (a prompt past its context): their trees carry `error` */
    refusedProblems: st.refusedProblems,
    expansions: st.expansions,
    nodes: st.nodes,
    seconds,
    problemsPerSecond: st.problems / seconds,
    rolloutsPerSecond: st.rollouts / seconds,
    expansionsPerSecond: st.expansions / seconds,
    engine: s.engine.name,
    device: s.engine.device,
    deviceReason: s.deviceReason,
    options: s.options,
    stages: Object.fromEntries(
      Object.entries(st.stages).map(([name, x]) => [name, { ...x, meanBatch: x.calls > 0 ? x.items / x.calls : 0 }]),
    ),
  };
}
