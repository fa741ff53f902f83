// `rstar synth`: MCTS over every problem of a JSONL file, one finished tree a line.
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { openBackends } from '../backends/open.js';
import { backendOptionTable } from '../backends/options.js';
import { treeLineProblem } from '../engine/export.js';
import { searchOptionTable } from '../engine/options.js';
import { planSearch, Search } from '../engine/search.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { countProblems } from '../io/problems.js';
import { runOptionTable } from '../run/options.js';
import { progressBar } from '../run/progress.js';
import { ResumableRun } from '../run/resumable.js';
import { searchRates, searchSummary, summaryLine } from '../run/summary.js';
import { contentOf, withDefaults } from '../util/options.js';
import { addOptions, optionValues } from './options.js';

export function synthOptions(y: Argv) {
  const y2 = addOptions(addOptions(y, searchOptionTable), backendOptionTable);
  return addOptions(y2, runOptionTable, {}, { out: 'output directory (trees.jsonl, stats.json, run.json)' });
}

export async function synth(args: Record<string, unknown>): Promise<void> {
  // Everything that can be refused is checked, and the models loaded, before anything is written.
  const run = optionValues(runOptionTable, args);
  const search = withDefaults(searchOptionTable, args);
  const backend = optionValues(backendOptionTable, args);
  const plan = planSearch(search);
  let total = await countProblems(run.problems);
  await using backends = await openBackends(backend, search.device);
  await using out = await ResumableRun.open({
    out: run.out,
    overwrite: run.overwrite,
    settings: { ...contentOf(searchOptionTable, plan.options), ...contentOf(backendOptionTable, backend) },
    info: { problems: run.problems },
    results: { name: 'trees.jsonl', check: treeLineProblem },
    redo: 'their problems are searched again',
  });
  console.error(`rstar: ${search.engine} tree engine on ${plan.device} (${plan.deviceReason})`);
  if (run.limit !== undefined) total = Math.min(total, run.limit);
  const trees = await out.append('trees.jsonl');
  const searcher = new Search(plan, backends, ({ tree }) => trees.append(tree));
  const bar = run.progress
    ? progressBar('synth |{bar}| {value}/{total} problems | {rps} rollouts/s | {solved} solved | {duration_formatted} elapsed, ETA {left}', Math.max(0, total - out.done.size), { rps: '0', solved: 0 })
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
}
