// Step executions per second through the Python executor pool, and incremental vs
// cumulative mode by trajectory depth. Run: npm run bench:executor [-- --workers 2 ...]
//
// 1. Throughput: many short programs at once, spread over the pool (one interpreter per
//    worker), for each isolation.
// 2. Depth: T trajectories grown one step at a time, as a tree search verifies them: at
//    depth d every trajectory's d-th step is verified in one batch. Cumulative mode runs
//    steps 1..d again; incremental mode runs step d on a copy of step d-1's saved state.
//    Two kinds of steps: "short" (a line of arithmetic) and "sympy" (a solve and a
//    simplify, as rStar-Math's code steps often do). Reports steps/s and the ratio per depth.
import { parseArgs } from 'node:util';
import { ExecutorPool } from '../src/verify/executor-pool.js';
import { PythonVerifier, type ExecMode } from '../src/verify/python-verifier.js';
import type { VerifyRequest } from '../src/engine/backend.js';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    programs: { type: 'string', default: '20000' },
    trajectories: { type: 'string', default: '200' },
    depth: { type: 'string', default: '8' },
  },
});
const workers = Number(values.workers);
const programs = Number(values.programs);
const trajectories = Number(values.trajectories);
const maxDepth = Number(values.depth);

function rate(n: number, ms: number): string {
  return (n / (ms / 1000)).toFixed(0);
}

async function throughput(isolation: 'inprocess' | 'fork', n: number): Promise<void> {
  const pool = new ExecutorPool({ workers, isolation });
  await pool.hello();
  const batch = Array.from({ length: n }, (_, i) => ({ program: `# Step 1: add\nx = ${i} + 1\nprint(x * 2)\n` }));
  await pool.execute(batch.slice(0, Math.min(200, n))); // warm-up
  const t0 = performance.now();
  const results = await pool.execute(batch);
  const ms = performance.now() - t0;
  if (results.some((r) => !r.ok)) throw new Error(`a benchmark program failed: ${JSON.stringify(results.find((r) => !r.ok))}`);
  console.log(`${isolation.padEnd(10)} ${String(n).padStart(7)} programs  ${ms.toFixed(0).padStart(7)} ms  ${rate(n, ms).padStart(7)} executions/s`);
  await pool.close();
}

const kinds = {
  short: (t: number, i: number) => `\n# Step ${i}: one more\nv${i} = ${i === 1 ? t : `v${i - 1}`} * 3 + ${i}\nprint(v${i})\n<end_of_step>`,
  sympy: (t: number, i: number) =>
    `\n# Step ${i}: solve and simplify\nsol${i} = solve(x**2 - ${i + t + 2}*x + ${t + 1}, x)\n` +
    `e${i} = simplify((x**3 - ${i}**3) / (x - ${i}) + ${t})\nprint(len(sol${i}), e${i}.subs(x, ${i}))\n<end_of_step>`,
};

async function depths(kind: keyof typeof kinds): Promise<void> {
  const step = kinds[kind];
  const header = kind === 'sympy' ? '<code>\nfrom sympy import symbols, solve, simplify\nx = symbols("x")\n<end_of_step>' : '<code>\n# Step 0\n<end_of_step>';
  const times: Record<ExecMode, number[]> = { cumulative: [], incremental: [] };
  for (const mode of ['cumulative', 'incremental'] as const) {
    const pool = new ExecutorPool({ workers });
    await pool.hello();
    const verifier = new PythonVerifier(pool, mode);
    const problems = Array.from({ length: trajectories }, (_, t) => ({ id: `${kind}${t}`, problem: '', answer: '' }));
    const steps: string[][] = problems.map(() => []);
    // The header step (imports) first, untimed, as the root's first child would be.
    await verifier.verify(problems.map((problem) => ({ problem, steps: [], step: header })));
    steps.forEach((s) => s.push(header));
    for (let d = 1; d <= maxDepth; d++) {
      const batch: VerifyRequest[] = problems.map((problem, t) => ({ problem, steps: steps[t]!, step: step(t, d) }));
      const t0 = performance.now();
      const verdicts = await verifier.verify(batch);
      times[mode].push(performance.now() - t0);
      const bad = verdicts.find((v) => v.kind !== 'step');
      if (bad) throw new Error(`${kind} depth ${d}: ${JSON.stringify(bad)}`);
      steps.forEach((s, t) => s.push(step(t, d)));
    }
    await pool.close();
  }
  console.log(`\n${kind} steps, ${trajectories} trajectories, ${workers} workers: steps/s at each depth`);
  console.log(`${'depth'.padEnd(6)} ${'cumulative'.padStart(11)} ${'incremental'.padStart(12)} ${'ratio'.padStart(7)}`);
  for (let d = 1; d <= maxDepth; d++) {
    const c = times.cumulative[d - 1]!;
    const i = times.incremental[d - 1]!;
    console.log(`${String(d).padEnd(6)} ${rate(trajectories, c).padStart(11)} ${rate(trajectories, i).padStart(12)} ${(c / i).toFixed(2).padStart(6)}x`);
  }
}

console.log(`executor throughput, ${workers} workers (short programs)`);
await throughput('inprocess', programs);
await throughput('fork', Math.min(programs, 400));
await depths('short');
await depths('sympy');
