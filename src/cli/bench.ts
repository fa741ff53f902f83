// `rstar bench tree`: the native arena against the TypeScript reference on one workload.
import { arch, cpus, platform } from 'node:os';
import type { Argv } from 'yargs';
import { runTreeBench, treeBenchDefaults, type TreeBenchResult } from '../bench/tree-bench.js';

export function benchTreeOptions(y: Argv) {
  const d = treeBenchDefaults;
  return y
    .option('trees', { type: 'number', default: d.trees, describe: 'trees searched together' })
    .option('rollouts', { type: 'number', default: d.rollouts, describe: 'rollouts per tree' })
    .option('n', { type: 'number', default: d.n, describe: 'children per expansion' })
    .option('max-depth', { type: 'number', default: d.maxDepth, describe: 'depth limit' })
    .option('seed', { type: 'number', default: d.seed, describe: 'seed of the workload tables' })
    .option('repeat', { type: 'number', default: 1, describe: 'timed passes per engine after one warm-up pass; the fastest is reported' });
}

type BenchArgs = Awaited<ReturnType<ReturnType<typeof benchTreeOptions>['parseAsync']>>;

export function benchTree(args: BenchArgs): { native: TreeBenchResult; reference: TreeBenchResult; ratio: number } {
  const o = { ...treeBenchDefaults, trees: args.trees, rollouts: args.rollouts, n: args.n, maxDepth: args['max-depth'], seed: args.seed };
  const best = (engine: 'native' | 'reference') => runTreeBench(engine, o, 1 + Math.max(1, args.repeat));
  console.log(`tree bench: ${o.trees} trees x ${o.rollouts} rollouts, n = ${o.n}, depth <= ${o.maxDepth}`);
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown cpu'} (${cpus().length} cores), ${platform()}-${arch()}, node ${process.version}`);
  const native = best('native');
  const reference = best('reference');
  const rate = (count: number, ms: number) => (count / (ms / 1000)).toFixed(0).padStart(10);
  console.log(`${''.padEnd(9)} ${'engine sims/s'.padStart(14)} ${'wall sims/s'.padStart(12)} ${'rollouts/s'.padStart(11)} ${'engine ms'.padStart(10)} ${'wall ms'.padStart(8)}`);
  for (const r of [native, reference]) {
    console.log(
      `${r.engine.padEnd(9)} ${rate(r.sims, r.engineMs).padStart(14)} ${rate(r.sims, r.ms).padStart(12)} ${rate(r.rollouts, r.ms).padStart(11)} ` +
        `${r.engineMs.toFixed(0).padStart(10)} ${r.ms.toFixed(0).padStart(8)}`,
    );
  }
  console.log(`workload: ${native.sims} sims (select + expand + values), ${native.rollouts} rollouts, ${native.nodes} nodes`);
  if (native.digest !== reference.digest || native.sims !== reference.sims) {
    throw new Error(`the engines disagree: digests ${native.digest} vs ${reference.digest}, sims ${native.sims} vs ${reference.sims}`);
  }
  const ratio = reference.engineMs / native.engineMs;
  console.log(
    `native / reference: ${ratio.toFixed(2)}x in the engine, ${(reference.ms / native.ms).toFixed(2)}x end to end (identical trees: yes)`,
  );
  return { native, reference, ratio };
}
