// The whole search at scale: the real Search (scheduler, stages, tree export) with the
// simulated policy, PPM and verifier at no latency, so that what is timed is the engine and
// the JavaScript around it. Each configuration (trees searched at once x rollouts in flight
// per tree) runs on the CPU arena and, where a GPU is usable, on the GPU arena; both search
// the same problems with the same schedule (the sim backends are deterministic and answer in
// order), so their trees must be identical: a digest of every exported tree checks it.
// Where the wall time goes: in the tree engine's calls (timed around each call), in other
// JavaScript (the event loop busy otherwise), and waiting (the event loop idle).
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Search } from '../engine/search.js';
import type { ExportedTree } from '../engine/export.js';
import { cudaStatus } from '../engine/native.js';
import type { Device } from '../engine/tree.js';
import { ExactGrader } from '../grade/exact-grader.js';
import type { Problem } from '../io/problems.js';
import { SimPolicy } from '../sim/policy.js';
import { SimPpm } from '../sim/ppm.js';
import { SimVerifier } from '../sim/verifier.js';
import type { Timeline } from '../util/trace.js';

export interface SearchBenchOptions {
  /** trees searched at once (one problem each) */
  trees: number[];
  /** rollouts in flight per tree */
  inFlight: number[];
  rollouts: number;
  n: number;
  seed: number;
}

export const searchBenchDefaults: SearchBenchOptions = { trees: [1024, 16384, 65536], inFlight: [1, 4], rollouts: 8, n: 4, seed: 1 };

export interface SearchBenchResult {
  device: Device;
  trees: number;
  inFlight: number;
  rollouts: number;
  ms: number;
  rolloutsPerSecond: number;
  /** shares of the wall time: the engine's calls, other JavaScript, the event loop idle */
  engineShare: number;
  jsShare: number;
  waitShare: number;
  /** a digest of the exported trees' shapes and statistics, in problem order */
  digest: string;
}

/** Sums the time of the engine's calls; the stages' own slices are not needed. */
class EngineTally implements Timeline {
  engineMs = 0;
  now(): number {
    return performance.now();
  }
  slice(track: string, _name: string, startMs: number): void {
    if (track === 'engine') this.engineMs += performance.now() - startMs;
  }
  start(): () => void {
    return () => {};
  }
  counter(): void {}
}

export async function runSearchBench(device: Device, trees: number, inFlight: number, o: SearchBenchOptions): Promise<SearchBenchResult> {
  const problems: Problem[] = Array.from({ length: trees }, (_, i) => ({ id: `p${i}`, problem: `problem ${i}`, answer: String(i % 7) }));
  const backends = { policy: new SimPolicy({ seed: o.seed }), ppm: new SimPpm({ seed: o.seed }), verifier: new SimVerifier(), grader: new ExactGrader() };
  const tally = new EngineTally();
  // trees finish out of order: each one's digest goes to its problem's slot, combined in order at the end
  const digests = new Int32Array(trees);
  const search = new Search(
    { rollouts: o.rollouts, n: o.n, concurrency: trees, rolloutsInFlight: inFlight, device },
    backends,
    ({ tree }) => {
      digests[Number(tree.id.slice(1))] = treeDigest(tree);
    },
    tally,
  );
  const elu = performance.eventLoopUtilization();
  const started = performance.now();
  const stats = await search.run(
    (async function* () {
      yield* problems;
    })(),
  );
  const ms = performance.now() - started;
  const loop = performance.eventLoopUtilization(elu);
  const hash = createHash('sha1').update(digests);
  const waitMs = loop.idle;
  return {
    device,
    trees,
    inFlight,
    rollouts: stats.rollouts,
    ms,
    rolloutsPerSecond: stats.rollouts / (ms / 1000),
    engineShare: tally.engineMs / ms,
    jsShare: Math.max(0, ms - tally.engineMs - waitMs) / ms,
    waitShare: waitMs / ms,
    digest: hash.digest('hex'),
  };
}

/** Each node's parent, visits, value, PPM score, terminal kind and step: what the engines and the scheduler decide (cheaper than hashing the JSON, which would weigh on the timing). */
function treeDigest(t: ExportedTree): number {
  let h = 0;
  const mix = (x: number) => (h = (Math.imul(h, 31) + x) | 0);
  for (const n of t.nodes) {
    mix(n.parent);
    mix(n.N);
    mix(Math.round((n.Q ?? 9) * 4096));
    mix(Math.round((n.ppm ?? 9) * 4096));
    mix(n.terminal === null ? 0 : n.terminal.length);
    mix(n.step.length);
  }
  return h;
}

/** The devices to compare: the CPU arena always, the GPU arena where one is usable (else why not). */
export function benchDevices(): { devices: Device[]; gpu: string } {
  const status = cudaStatus();
  return status.usable ? { devices: ['cpu', 'cuda'], gpu: status.device } : { devices: ['cpu'], gpu: `not usable: ${status.reason}` };
}
