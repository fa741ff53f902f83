// A picture of a --trace file, for where Perfetto cannot be had (a README, a report): one row
// per track, each slice a bar, over a window of the run. SVG; rsvg-convert makes a PNG.
// Run: node --import tsx bench/trace-plot.ts TRACE.json OUT.svg [--from S] [--seconds S]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { TraceEvent } from '../src/util/trace.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { from: { type: 'string', default: '0' }, seconds: { type: 'string', default: '2' } },
});
const [input, output] = positionals;
if (input === undefined || output === undefined) {
  console.error('usage: trace-plot TRACE.json OUT.svg [--from SECONDS] [--seconds SECONDS]');
  process.exit(2);
}
let text = readFileSync(input, 'utf8').trimEnd();
if (!text.endsWith(']}')) text += ']}'; // a run killed midway leaves the brackets open
const events = (JSON.parse(text) as { traceEvents: TraceEvent[] }).traceEvents;
const names = new Map(events.filter((e) => e.name === 'thread_name').map((e) => [e.tid, String(e.args!['name'])]));
const slices = events.filter((e) => e.ph === 'X');
const t0 = Math.min(...slices.map((e) => e.ts!)) + Number(values.from) * 1e6;
const span = Number(values.seconds) * 1e6;
const shown = slices.filter((e) => e.ts! + e.dur! >= t0 && e.ts! <= t0 + span);
const group = (tid: number) => (names.get(tid) ?? '').replace(/ \d+$/, '');
const slot = (tid: number) => Number(/ (\d+)$/.exec(names.get(tid) ?? '')?.[1] ?? 1);
// in order of first appearance, the tracks of one group (grader, grader 2...) together
const firstSeen = [...new Set(shown.map((e) => e.tid))].sort((a, b) => a - b);
const groups = [...new Set(firstSeen.map(group))];
const tracks = firstSeen.sort((a, b) => groups.indexOf(group(a)) - groups.indexOf(group(b)) || slot(a) - slot(b));

const [left, top, rowH, width] = [120, 30, 22, 1000];
const height = top + tracks.length * rowH + 40;
const x = (ts: number) => left + ((Math.min(Math.max(ts, t0), t0 + span) - t0) / span) * width;
const palette = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const colour = (tid: number) => palette[groups.indexOf(group(tid)) % palette.length]!;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const out: string[] = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 50}" height="${height}" font-family="sans-serif" font-size="12">`,
  `<rect width="100%" height="100%" fill="white"/>`,
  `<text x="${left}" y="18">${esc(input.split('/').at(-1)!)}: ${(span / 1e6).toFixed(2)} s from ${(Number(values.from)).toFixed(2)} s</text>`,
];
tracks.forEach((tid, row) => {
  const y = top + row * rowH;
  out.push(`<text x="${left - 6}" y="${y + 15}" text-anchor="end">${esc(names.get(tid) ?? String(tid))}</text>`);
  out.push(`<line x1="${left}" x2="${left + width}" y1="${y + rowH - 1}" y2="${y + rowH - 1}" stroke="#eee"/>`);
  for (const e of shown.filter((s) => s.tid === tid)) {
    const [a, b] = [x(e.ts!), x(e.ts! + e.dur!)];
    out.push(`<rect x="${a.toFixed(2)}" y="${y + 3}" width="${Math.max(0.6, b - a).toFixed(2)}" height="${rowH - 7}" fill="${colour(tid)}"><title>${esc(e.name)} ${(e.dur! / 1000).toFixed(2)} ms${e.args ? ` ${esc(JSON.stringify(e.args))}` : ''}</title></rect>`);
  }
});
const axisY = top + tracks.length * rowH + 16;
for (let k = 0; k <= 10; k++) {
  const xs = left + (k / 10) * width;
  out.push(`<line x1="${xs}" x2="${xs}" y1="${top}" y2="${axisY - 10}" stroke="#ddd"/>`);
  out.push(`<text x="${xs}" y="${axisY + 4}" text-anchor="middle">${((Number(values.from) + (k / 10) * (span / 1e6)) * 1000).toFixed(0)} ms</text>`);
}
out.push('</svg>');
writeFileSync(output, out.join('\n') + '\n');
console.error(`trace-plot: ${shown.length} slices on ${tracks.length} tracks -> ${output}`);
