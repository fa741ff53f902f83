// A search run's totals: stats.json, and the one line printed at the end.
import type { Search } from '../engine/search.js';
import type { Outcome } from './resumable.js';

export function searchSummary(s: Search, resumed: number, outcome: Outcome) {
  const st = s.stats;
  const seconds = s.elapsedMs() / 1000;
  const signal = outcome.signal;
  return {
    /** problems finished by this invocation; totalProblems adds those of earlier ones */
    problems: st.problems,
    resumedProblems: resumed,
    totalProblems: st.problems + resumed,
    failed: outcome.failure !== undefined,
    /** stopped by a signal (its name in interruptSignal); abandonedTrees were dropped unwritten */
    interrupted: signal !== undefined,
    ...(signal !== undefined ? { interruptSignal: signal, abandonedTrees: st.abandonedTrees } : {}),
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
    stages: Object.fromEntries(Object.entries(st.stages).map(([name, x]) => [name, { ...x, meanBatch: x.calls > 0 ? x.items / x.calls : 0 }])),
  };
}

export type SearchSummary = ReturnType<typeof searchSummary>;

export function summaryLine(s: SearchSummary, file: string): string {
  return (
    `rstar: ${s.problems} problems (${s.solved} solved), ${s.rollouts} rollouts, ${s.expansions} expansions in ${s.seconds.toFixed(2)} s: ` +
    `${s.rolloutsPerSecond.toFixed(0)} rollouts/s, ${s.problemsPerSecond.toFixed(1)} problems/s -> ${file}`
  );
}

/** The rates a progress bar shows while a search runs. */
export function searchRates(s: Search) {
  const seconds = Math.max(1e-3, s.elapsedMs() / 1000);
  return { rps: (s.stats.rollouts / seconds).toFixed(0), solved: s.stats.solved };
}
