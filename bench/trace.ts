// What --trace costs: the same search (sim policy, PPM and verifier, no latency, so the
// scheduler and the engine are all there is to time and the trace's share is at its largest)
// with and without a trace, alternating in one process; the fastest of each is compared, by
// wall time and by this process's CPU time (user + system: steadier than wall time on a
// machine that other work shares).
// Run: npm run bench:trace [-- --problems 512 --rollouts 16 --repeat 5]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Search } from '../src/engine/search.js';
import type { Problem } from '../src/io/problems.js';
import { ExactGrader } from '../src/grade/exact-grader.js';
import { SimPolicy } from '../src/sim/policy.js';
import { SimPpm } from '../src/sim/ppm.js';
import { SimVerifier } from '../src/sim/verifier.js';
import { Trace } from '../src/util/trace.js';

const { values } = parseArgs({
  options: {
    problems: { type: 'string', default: '512' },
    rollouts: { type: 'string', default: '16' },
    concurrency: { type: 'string', default: '64' },
    repeat: { type: 'string', default: '5' },
  },
});
const problems: Problem[] = Array.from({ length: Number(values.problems) }, (_, i) => ({ id: `p${i}`, problem: `problem ${i}`, answer: String(i % 7) }));
const dir = mkdtempSync(join(tmpdir(), 'rstar-bench-trace-'));
const file = join(dir, 'trace.json');

async function once(traced: boolean): Promise<{ ms: number; cpuMs: number; rollouts: number; bytes: number }> {
  const trace = traced ? new Trace(file) : undefined;
  const backends = { policy: new SimPolicy({ seed: 1 }), ppm: new SimPpm({ seed: 1 }), verifier: new SimVerifier(), grader: new ExactGrader() };
  const search = new Search({ rollouts: Number(values.rollouts), n: 4, concurrency: Number(values.concurrency), device: 'cpu' }, backends, () => {}, trace);
  const started = performance.now();
  const cpu = process.cpuUsage();
  const stats = await search.run(
    (async function* () {
      yield* problems;
    })(),
  );
  trace?.close();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000, rollouts: stats.rollouts, bytes: traced ? statSync(file).size : 0 };
}

await once(false); // warm-up: the addon, the JIT
const best = { off: { ms: Infinity, cpuMs: Infinity }, on: { ms: Infinity, cpuMs: Infinity } };
let rollouts = 0;
let bytes = 0;
for (let k = 0; k < Number(values.repeat); k++) {
  for (const traced of [false, true]) {
    const r = await once(traced);
    const b = best[traced ? 'on' : 'off'];
    b.ms = Math.min(b.ms, r.ms);
    b.cpuMs = Math.min(b.cpuMs, r.cpuMs);
    rollouts = r.rollouts;
    if (traced) bytes = r.bytes;
  }
}
rmSync(dir, { recursive: true, force: true });
const ratio = (key: 'ms' | 'cpuMs') => best.on[key] / best.off[key];
console.log(`${problems.length} problems x ${values.rollouts} rollouts (${rollouts} done), ${values.concurrency} trees at once, fastest of ${values.repeat}; trace ${(bytes / 2 ** 20).toFixed(1)} MiB`);
console.log('| | wall ms | rollouts/s | CPU ms |');
console.log('|---|---:|---:|---:|');
for (const [name, b] of [['no trace', best.off], ['--trace', best.on]] as const) {
  console.log(`| ${name} | ${b.ms.toFixed(0)} | ${((rollouts / b.ms) * 1000).toFixed(0)} | ${b.cpuMs.toFixed(0)} |`);
}
console.log(`| ratio | ${ratio('ms').toFixed(3)} | | ${ratio('cpuMs').toFixed(3)} |`);
