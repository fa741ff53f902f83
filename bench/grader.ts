// The grader benchmark: `node --import tsx bench/grader.ts [--data DIR] [--show N] [--threads N] [--no-pool]`
// (or `npm run bench:grader`). Evaluates equivalent() on the gold answers of every
// DIR/*/test.jsonl (default ../shared/data beside the repository) and prints, as Markdown:
// per set, how many comparisons of each check went as expected; the first few that did not;
// and comparisons/s in this thread and through MathGrader with 1 and N workers.
import { existsSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checks, evaluateSet, readGoldSet, runPool, type CheckName, type SetReport } from '../src/bench/grader-bench.js';
import type { PredGold } from '../src/grade/math-grader.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'shared', 'data') },
    show: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    'no-pool': { type: 'boolean', default: false },
  },
});
const dataDir = values.data;
const show = Number(values.show);
const threads = Number(values.threads);
if (!existsSync(dataDir)) {
  console.error(`bench/grader: no data directory ${dataDir} (give --data DIR: folders holding test.jsonl)`);
  process.exit(1);
}
if (!(Number.isInteger(show) && show >= 0) || !(Number.isInteger(threads) && threads >= 1)) {
  console.error('bench/grader: --show must be an integer >= 0 and --threads an integer >= 1');
  process.exit(1);
}

const sets = readdirSync(dataDir)
  .filter((d) => existsSync(join(dataDir, d, 'test.jsonl')))
  .sort();
const reports: SetReport[] = [];
const pairs: PredGold[] = [];
const verdicts: boolean[] = [];
for (const set of sets) {
  const { report, cases, verdicts: v } = evaluateSet(set, readGoldSet(join(dataDir, set, 'test.jsonl')));
  reports.push(report);
  cases.forEach((c, k) => {
    // the pool grades pairs: the cases with one gold (all but answer_rstar of list golds)
    if (c.golds.length !== 1) return;
    pairs.push({ pred: c.pred, gold: c.golds[0]! });
    verdicts.push(v[k]!);
  });
  console.error(`bench/grader: ${set}: ${report.comparisons} comparisons in ${(report.ms / 1000).toFixed(1)} s`);
}

const names = Object.keys(checks) as CheckName[];
const cell = (r: SetReport, name: CheckName) => {
  const t = r.tallies[name];
  return t === undefined ? '-' : `${t.agree}/${t.total}`;
};
console.log(`Data: ${dataDir}; machine: ${cpus()[0]?.model ?? 'unknown cpu'} (${cpus().length} cores), node ${process.version}\n`);
console.log(`| set | golds | ${names.join(' | ')} | skipped |`);
console.log(`|---|---:|${names.map(() => '---:').join('|')}|---|`);
for (const r of reports) {
  const skipped = Object.entries(r.skipped)
    .filter(([, n]) => n > 0)
    .map(([why, n]) => `${n} ${why}`)
    .join(', ');
  console.log(`| ${r.set} | ${r.golds} | ${names.map((n) => cell(r, n)).join(' | ')} | ${skipped || '-'} |`);
}
const sum = (name: CheckName, key: 'agree' | 'total') => reports.reduce((s, r) => s + (r.tallies[name]?.[key] ?? 0), 0);
console.log(`| **all** | ${reports.reduce((s, r) => s + r.golds, 0)} | ${names.map((n) => `${sum(n, 'agree')}/${sum(n, 'total')}`).join(' | ')} | |`);
console.log(
  `\nCells: comparisons that went as the check expects (equal, except "value * (1 + 1e-4)": unequal). ` +
    `"next gold" counts the golds equal to the next problem's gold; those written differently are listed below.\n`,
);

for (const r of reports) {
  const lines: string[] = [];
  for (const name of names) {
    const against = r.tallies[name]?.against ?? [];
    for (const c of against.slice(0, show)) lines.push(`- ${name}: \`${c.id}\`: pred \`${oneLine(c.pred)}\`, gold \`${oneLine(c.golds.join(' | '))}\``);
    if (against.length > show) lines.push(`- ${name}: ... ${against.length - show} more`);
  }
  if (lines.length > 0) console.log(`**${r.set}**\n\n${lines.join('\n')}\n`);
}

const inThreadMs = reports.reduce((s, r) => s + r.ms, 0);
const rate = (n: number, ms: number) => Math.round(n / (ms / 1000)).toLocaleString('en-US');
console.log(`| set | comparisons | seconds (this thread) | comparisons/s |`);
console.log(`|---|---:|---:|---:|`);
for (const r of reports) console.log(`| ${r.set} | ${r.comparisons} | ${(r.ms / 1000).toFixed(2)} | ${rate(r.comparisons, r.ms)} |`);
console.log('');
console.log(`| grader | comparisons | seconds | comparisons/s | verdicts differing from in-thread | errors |`);
console.log(`|---|---:|---:|---:|---:|---:|`);
console.log(`| equivalent(), in this thread | ${pairs.length} | ${(inThreadMs / 1000).toFixed(2)} | ${rate(pairs.length, inThreadMs)} | - | - |`);
if (!values['no-pool']) {
  for (const n of [...new Set([1, threads])]) {
    const run = await runPool(n, pairs, verdicts);
    console.log(`| MathGrader, ${n} worker${n > 1 ? 's' : ''} | ${run.comparisons} | ${(run.ms / 1000).toFixed(2)} | ${rate(run.comparisons, run.ms)} | ${run.differ} | ${run.errors} |`);
  }
}

function oneLine(s: string): string {
  const t = s.replace(/\s*\n\s*/g, ' ').replace(/`/g, "'");
  return t.length > 140 ? `${t.slice(0, 140)}...` : t;
}
