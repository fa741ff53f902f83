// Synthesis (`rstar synth`, evolve's search stage): MCTS over every problem of a JSONL file,
// one finished tree a line in OUT/trees.jsonl, resumable; totals in OUT/stats.json.
import { join } from 'node:path';
import type { BackendOptions } from '../backends/options.js';
import { treeLineProblem } from '../engine/export.js';
import type { SearchOptions } from '../engine/options.js';
import { Search } from '../engine/search.js';
import { writeJsonAtomic } from '../io/atomic.js';
import type { RunOptions } from './options.js';
import { progressBar } from './progress.js';
import { openSearchRun } from './resumable.js';
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
  await using prepared = await openSearchRun({ run, search, backend, results: { name: 'trees.jsonl', check: treeLineProblem }, redo: 'their problems are searched again' });
  const { plan, backends, out, total } = prepared;
  const trees = await out.append('trees.jsonl');
  const searcher = new Search(plan, backends, ({ tree }) => trees.append(tree), prepared.trace);
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
