// The GPU tree engine from TypeScript: the device report, the device choice, and (only on
// a machine with a usable CUDA device) the same search on the GPU as on the CPU. The full
// CPU-vs-GPU parity test is the C++ one (native/tests/gpu_parity_test.cpp).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cudaStatus, CudaTree, deviceFloats, loadAddon, NativeTree } from '../src/engine/native.js';
import { chooseDevice, createEngine, Search } from '../src/engine/search.js';
import { Flag, SelectMode, Terminal, type TreeEngine } from '../src/engine/tree.js';
import { SimPolicy } from '../src/sim/policy.js';
import { SimPpm } from '../src/sim/ppm.js';
import { SimVerifier } from '../src/sim/verifier.js';
import { ExactGrader } from '../src/grade/exact-grader.js';
import type { ExportedTree } from '../src/engine/export.js';
import { Trace, type TraceEvent } from '../src/util/trace.js';

const status = cudaStatus();
const noGpu = status.usable ? false : `no usable CUDA device (${status.reason})`;

test('the addon says whether a CUDA device is usable, and why not', () => {
  assert.equal(typeof status.usable, 'boolean');
  if (status.usable) {
    assert.match(status.device, /sm_\d+/);
  } else {
    assert.ok(status.reason.length > 10, `a reason: ${status.reason}`);
    assert.throws(() => new (loadAddon().GpuArena)(2, 8), (e: Error) => e.message.includes(status.reason));
    assert.throws(() => deviceFloats(4), (e: Error) => e.message.startsWith('DeviceFloats: ') && e.message.includes(status.reason));
  }
});

test('device choice: cpu when asked, auto by availability, cuda refused without a device', () => {
  assert.deepEqual(chooseDevice('native', 'cpu'), { device: 'cpu', reason: 'asked for' });
  assert.equal(chooseDevice('reference', 'auto').device, 'cpu');
  const auto = chooseDevice('native', 'auto');
  assert.equal(auto.device, status.usable ? 'cuda' : 'cpu');
  assert.match(auto.reason, /^auto: /);
  if (!status.usable) assert.throws(() => chooseDevice('native', 'cuda'), /device cuda: no usable CUDA device: \S/);
  assert.throws(() => new Search({ engine: 'reference', device: 'cuda' }, backends(), () => {}), /--device needs the native engine/);
  assert.equal(createEngine('native', 2, 8).device, 'cpu');
});

test('the fused PPM step through the addon: tanh((h . w + b) / 5), first visits and terminal backups', () => {
  const tree = new NativeTree(1, 8);
  tree.acquire();
  const leaves = new Int32Array(1);
  tree.select(Int32Array.of(0), leaves, SelectMode.rstar, 2);
  tree.expand(leaves, Int32Array.of(2), Uint8Array.of(Terminal.none, Terminal.answer), new Int32Array(1));
  const h = 11;
  const hidden = Float32Array.from({ length: 2 * h }, (_, i) => Math.sin(i));
  const weight = Float32Array.from({ length: h }, (_, i) => Math.cos(i) / 2);
  const scores = new Float32Array(2);
  tree.scoreFused(Int32Array.of(1, 2), hidden, weight, 0.25, scores);
  for (let r = 0; r < 2; r++) {
    let dot = 0;
    for (let i = 0; i < h; i++) dot += hidden[r * h + i]! * weight[i]!;
    assert.ok(Math.abs(scores[r]! - Math.tanh((dot + 0.25) / 5)) < 1e-6, `row ${r}: ${scores[r]}`);
  }
  const a = tree.arrays;
  assert.deepEqual([a.visits[1], a.visits[2], a.visits[0]], [1, 1, 1], 'the open child got a first visit, the answer backed up to the root');
  assert.equal(a.valueSum[0], scores[1]);
  assert.throws(() => tree.scoreFused(Int32Array.of(1), hidden, weight, 0, scores), /hidden must hold one row of 11 floats per node/);
});

function backends() {
  return { policy: new SimPolicy({ seed: 3 }), ppm: new SimPpm({ seed: 3 }), verifier: new SimVerifier(), grader: new ExactGrader() };
}

async function search(device: 'cpu' | 'cuda'): Promise<ExportedTree[]> {
  const trees: ExportedTree[] = [];
  const s = new Search({ rollouts: 8, n: 4, concurrency: 16, rolloutsInFlight: 1, device }, backends(), ({ tree }) => {
    trees.push(tree);
  });
  async function* problems() {
    for (let i = 0; i < 24; i++) yield { id: `p${i}`, problem: `What is ${i} + ${i + 1}?`, answer: String(2 * i + 1) };
  }
  await s.run(problems());
  assert.equal(s.engine.device, device);
  return trees.sort((x, y) => x.id.localeCompare(y.id));
}

test('a search on the GPU grows the same trees as on the CPU', { skip: noGpu }, async () => {
  assert.deepEqual(await search('cuda'), await search('cpu'));
});

test('CudaTree: sync() downloads the trees asked for, and only it updates the host mirror', { skip: noGpu }, () => {
  const engines: TreeEngine[] = [new NativeTree(3, 32), new CudaTree(3, 32)];
  for (const e of engines) {
    for (let t = 0; t < 3; t++) e.acquire();
    const leaves = new Int32Array(3);
    e.select(Int32Array.of(0, 32, 64), leaves, SelectMode.rstar, 2);
    e.expand(leaves, Int32Array.of(2, 2, 2), new Uint8Array(6), new Int32Array(3));
    e.backup(Int32Array.of(1, 33), Float32Array.of(0.5, -0.5));
    e.sync([0, 1]);
  }
  const [cpu, gpu] = engines.map((e) => e.arrays);
  const keys = ['visits', 'valueSum', 'flags', 'parent'] as const;
  assert.deepEqual(Array.from(gpu!.treeSize), Array.from(cpu!.treeSize), 'treeSize is current without sync');
  for (const key of keys) assert.deepEqual(Array.from(gpu![key]).slice(0, 64), Array.from(cpu![key]).slice(0, 64), key);
  assert.notDeepEqual(Array.from(gpu!.parent).slice(64, 96), Array.from(cpu!.parent).slice(64, 96), 'tree 2 was not synced');
  engines[1]!.sync([2, 0]);
  for (const key of keys) assert.deepEqual(Array.from(gpu![key]).slice(0, 96), Array.from(cpu![key]).slice(0, 96), key);
});

test('readFlags: the flags on the device, without a sync, as the CPU arena has them; the same refusals', { skip: noGpu }, () => {
  const engines: TreeEngine[] = [new NativeTree(2, 32), new CudaTree(2, 32)];
  const read = engines.map((e) => {
    for (let t = 0; t < 2; t++) e.acquire();
    const leaves = new Int32Array(2);
    e.select(Int32Array.of(0, 32), leaves, SelectMode.rstar, 2);
    // tree 0's root gets two answers (so it is exhausted), tree 1's two open children
    e.expand(leaves, Int32Array.of(2, 2), Uint8Array.of(Terminal.answer, Terminal.answer, Terminal.none, Terminal.none), new Int32Array(2));
    const flags = new Uint8Array(4);
    e.readFlags(Int32Array.of(0, 32, 1, 33), flags);
    assert.throws(() => e.readFlags(Int32Array.of(40), new Uint8Array(1)), /read_flags: node 40 is not allocated/);
    return Array.from(flags);
  });
  assert.deepEqual(read[1], read[0]);
  assert.ok(read[0]![0]! & Flag.exhausted && !(read[0]![1]! & Flag.exhausted));
});

test('scoreFusedDevice: hidden states in device memory score as the same rows from the host; bad addresses refused', { skip: noGpu }, () => {
  const h = 37;
  const rows = 5;
  const hidden = Float32Array.from({ length: rows * h }, (_, i) => Math.sin(0.3 * i));
  const weight = Float32Array.from({ length: h }, (_, i) => Math.cos(i) / 3);
  const onDevice = deviceFloats(rows * h + 8);
  onDevice.upload(Float32Array.of(9, 9, 9, 9)); // overwritten below: offsets work
  onDevice.upload(hidden, 0);
  assert.throws(() => onDevice.upload(hidden, 9), /do not fit/);
  const run = (score: (e: CudaTree, nodes: Int32Array, scores: Float32Array) => void) => {
    const e = new CudaTree(1, 16);
    e.acquire();
    const leaves = new Int32Array(1);
    e.select(Int32Array.of(0), leaves, SelectMode.rstar, 2);
    e.expand(leaves, Int32Array.of(rows), Uint8Array.of(Terminal.none, Terminal.answer, Terminal.none, Terminal.answer, Terminal.none), new Int32Array(1));
    const scores = new Float32Array(rows);
    score(e, Int32Array.of(1, 2, 3, 4, 5), scores);
    e.sync([0]);
    return { scores: Array.from(scores), visits: Array.from(e.arrays.visits.slice(0, 6)), valueSum: Array.from(e.arrays.valueSum.slice(0, 6)) };
  };
  const host = run((e, nodes, scores) => e.scoreFused(nodes, hidden, weight, 0.5, scores));
  const device = run((e, nodes, scores) => e.scoreFusedDevice(nodes, onDevice, weight, 0.5, scores));
  assert.deepEqual(device, host);
  assert.deepEqual(run((e, nodes, scores) => e.scoreFusedDevice(nodes, onDevice.pointer, weight, 0.5, scores)), host, 'by address');
  const e = new CudaTree(1, 4);
  e.acquire();
  assert.throws(() => e.scoreFusedDevice(Int32Array.of(0), deviceFloats(h - 1), weight, 0, new Float32Array(1)), /hidden holds 36 floats, not the 1 rows of 37/);
  assert.throws(() => e.scoreFusedDevice(Int32Array.of(0), 0n, weight, 0, new Float32Array(1)), /not a usable device address/);
  assert.throws(() => e.scoreFusedDevice(Int32Array.of(0), 2n, weight, 0, new Float32Array(1)), /not a usable device address/);
});

test('a trace of a GPU search: the device time of each operation on a "gpu" track, within the run', { skip: noGpu }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rstar-device-trace-'));
  try {
    const file = join(dir, 'trace.json');
    const trace = new Trace(file);
    const s = new Search({ rollouts: 4, n: 3, concurrency: 8, device: 'cuda' }, backends(), () => {}, trace);
    async function* problems() {
      for (let i = 0; i < 8; i++) yield { id: `p${i}`, problem: `What is ${i} + 1?`, answer: String(i + 1) };
    }
    await s.run(problems());
    trace.close();
    const events = (JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: TraceEvent[] }).traceEvents;
    const gpuTid = events.find((e) => e.name === 'thread_name' && e.args?.['name'] === 'gpu')?.tid;
    assert.ok(gpuTid !== undefined, 'a gpu track');
    const kernels = events.filter((e) => e.ph === 'X' && e.tid === gpuTid);
    const names = new Set(kernels.map((e) => e.name));
    for (const op of ['select', 'expand', 'read_flags', 'download']) assert.ok(names.has(op), `${op} timed on the device (${[...names].join(', ')})`);
    const engine = events.filter((e) => e.ph === 'X' && e.name === 'select' && e.tid !== gpuTid);
    const last = Math.max(...engine.map((e) => e.ts! + e.dur!));
    for (const k of kernels) assert.ok(k.dur! >= 0 && k.ts! >= 0 && k.ts! <= last + 1e6, `${k.name} at ${k.ts} us lies within the run`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
