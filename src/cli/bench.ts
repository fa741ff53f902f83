// `rstar bench tree`: the native arena against the TypeScript reference on one workload.
// `rstar bench search`: the whole search on the CPU arena and the GPU arena, at scale.
import { arch, cpus, platform } from 'node:os';
import type { Argv } from 'yargs';
import { benchDevices, runSearchBench, searchBenchDefaults, type SearchBenchResult } from '../bench/search-bench.js';
import { runTreeBench, treeBenchDefaults, type TreeBenchResult } from '../bench/tree-bench.js';
import { UsageError } from '../errors.js';

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
  console.log(machine());
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

const machine = () => `machine: ${cpus()[0]?.model ?? 'unknown cpu'} (${cpus().length} cores), ${platform()}-${arch()}, node ${process.version}`;

export function benchSearchOptions(y: Argv) {
  const d = searchBenchDefaults;
  return y
    .option('trees', { type: 'string', default: d.trees.join(','), describe: 'trees searched at once, one problem each: a comma-separated list' })
    .option('in-flight', { type: 'string', default: d.inFlight.join(','), describe: 'rollouts in flight per tree: a comma-separated list' })
    .option('rollouts', { type: 'number', default: d.rollouts, describe: 'rollouts per tree' })
    .option('n', { type: 'number', default: d.n, describe: 'candidate steps per expansion' })
    .option('seed', { type: 'number', default: d.seed, describe: 'seed of the simulated policy and PPM' });
}

type SearchBenchArgs = Awaited<ReturnType<ReturnType<typeof benchSearchOptions>['parseAsync']>>;

function counts(flag: string, list: string): number[] {
  const values = list.split(',').map(Number);
  if (values.some((v) => !(Number.isInteger(v) && v >= 1))) throw new UsageError(`--${flag} must be a comma-separated list of integers >= 1 (got ${list})`);
  return values;
}

export async function benchSearch(args: SearchBenchArgs): Promise<SearchBenchResult[]> {
  const o = { trees: counts('trees', args.trees), inFlight: counts('in-flight', args['in-flight']), rollouts: args.rollouts, n: args.n, seed: args.seed };
  const { devices, gpu } = benchDevices();
  console.log(`search bench: the real Search with the simulated policy, PPM and verifier (no latency), ${o.rollouts} rollouts a tree, n = ${o.n}`);
  console.log(machine());
  console.log(`GPU: ${gpu}`);
  console.log('| trees | in flight | device | rollouts/s | wall s | engine % | other JS % | waiting % | trees equal |');
  console.log('|---:|---:|---|---:|---:|---:|---:|---:|---|');
  // a small search first on each device: the JIT, the addon and the device warmed up
  for (const device of devices) await runSearchBench(device, 256, 1, o);
  const results: SearchBenchResult[] = [];
  for (const trees of o.trees) {
    for (const inFlight of o.inFlight) {
      const mine: SearchBenchResult[] = [];
      for (const device of devices) {
        const r = await runSearchBench(device, trees, inFlight, o);
        mine.push(r);
        const equal = device === 'cpu' ? '' : r.digest === mine[0]!.digest ? 'yes' : 'NO';
        const pct = (x: number) => (100 * x).toFixed(1);
        console.log(`| ${trees} | ${inFlight} | ${device} | ${r.rolloutsPerSecond.toFixed(0)} | ${(r.ms / 1000).toFixed(2)} | ${pct(r.engineShare)} | ${pct(r.jsShare)} | ${pct(r.waitShare)} | ${equal} |`);
      }
      if (mine.length > 1) {
        console.log(`| | | gpu / cpu | ${(mine[1]!.rolloutsPerSecond / mine[0]!.rolloutsPerSecond).toFixed(2)}x | | | | | |`);
        if (mine[1]!.digest !== mine[0]!.digest) throw new Error(`the CPU and GPU arenas grew different trees at ${trees} trees, ${inFlight} in flight`);
      }
      results.push(...mine);
    }
  }
  return results;
}
