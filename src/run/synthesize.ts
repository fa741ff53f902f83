// Synthesis (`rstar synth`, evolve's search stage): MCTS over every problem of a JSONL file,
// one finished tree a line in OUT/trees.jsonl, resumable; totals in OUT/stats.json.
import { join } from 'node:path';
import { openBackends } from '../backends/open.js';
import { backendOptionTable, type BackendOptions } from '../backends/options.js';
import { treeLineProblem } from '../engine/export.js';
import { searchOptionTable, type SearchOptions } from '../engine/options.js';
import { planSearch, Search } from '../engine/search.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { countProblems } from '../io/problems.js';
import { contentOf } from '../util/options.js';
import type { RunOptions } from './options.js';
import { progressBar } from './progress.js';
import { ResumableRun } from './resumable.js';
import { searchRates, searchSummary, summaryLine, type SearchSummary } from './summary.js';

export interface SynthRun {
  run: RunOptions;
  search: Partial<SearchOptions>;
  backend: BackendOptions;
  /** the progress bar's name, e.g. "round 2/3 synth" */
  label?: string;
}

/** Searches the problems not yet in OUT/trees.jsonl; returns this invocation's totals. */
export async function synthesize({ run, search, backend, label = 'synth' }: SynthRun): Promise<SearchSummary> {
  // Everything that can be refused is checked, and the models loaded, before anything is written.
  const plan = planSearch(search);
  let total = await countProblems(run.problems);
  await using backends = await openBackends(backend, plan.options.device);
  await using out = await ResumableRun.open({
    out: run.out,
    overwrite: run.overwrite,
    settings: { ...contentOf(searchOptionTable, plan.options), ...contentOf(backendOptionTable, backend) },
    info: { problems: run.problems },
    results: { name: 'trees.jsonl', check: treeLineProblem },
    redo: 'their problems are searched again',
  });
  console.error(`rstar: ${plan.options.engine} tree engine on ${plan.device} (${plan.deviceReason})`);
  if (run.limit !== undefined) total = Math.min(total, run.limit);
  const trees = await out.append('trees.jsonl');
  const searcher = new Search(plan, backends, ({ tree }) => trees.append(tree));
  const bar = run.progress
    ? progressBar(`${label} |{bar}| {value}/{total} problems | {rps} rollouts/s | {solved} solved | {duration_formatted} elapsed, ETA {left}`, Math.max(0, total - out.done.size), { rps: '0', solved: 0 })
    : undefined;
  const tick = setInterval(() => bar?.update(searcher.stats.problems, searchRates(searcher)), 500);
  const outcome = await out.search(searcher, out.remaining(run.problems, run.limit));
  clearInterval(tick);
  bar?.update(searcher.stats.problems, searchRates(searcher));
  bar?.stop();
  // Partial totals are worth keeping too: a failed or interrupted run says how far it got.
  const summary = searchSummary(searcher, out.done.size, outcome);
  await out.finish(outcome, async () => {
    const models = await backends.stats().catch((e: unknown) => ({ error: String(e) }));
    await writeJsonAtomic(join(run.out, 'stats.json'), { ...summary, models });
  });
  console.error(summaryLine(summary, trees.file));
  return summary;
}
