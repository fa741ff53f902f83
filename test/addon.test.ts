import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkNodeLayout, loadAddon, NativeTree } from '../src/engine/native.js';
import { Flag, nodeArrays, SelectResult, Terminal } from '../src/engine/tree.js';

test('the addon loads and agrees with the TypeScript constants', () => {
  const addon = loadAddon();
  assert.equal(typeof addon.Arena, 'function');
  assert.equal(addon.constants['selectBlocked'], SelectResult.blocked);
});

test("the addon's node layout is tree.ts's nodeArrays, and a different one is refused by name", () => {
  const layout = loadAddon().nodeLayout;
  assert.deepEqual(
    layout.map((f) => f.name),
    Object.keys(nodeArrays),
  );
  assert.deepEqual(Object.keys(new NativeTree(1, 1).arrays), [...Object.keys(nodeArrays), 'treeSize']);
  checkNodeLayout(layout);
  const swapped = layout.map((f) => ({ ...f }));
  [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
  assert.throws(() => checkNodeLayout(swapped), /native addon node field 2 is depth \(4-byte Int32Array\), TypeScript's nodeArrays \(tree.ts\) has childCount \(4-byte Int32Array\): rebuild the addon/);
  const retyped = layout.map((f) => (f.name === 'valueSum' ? { ...f, type: 'Float64Array', bytes: 8 } : f));
  assert.throws(() => checkNodeLayout(retyped), /node field 5 is valueSum \(8-byte Float64Array\), .* has valueSum \(4-byte Float32Array\)/);
  assert.throws(() => checkNodeLayout(layout.slice(0, -1)), /native addon has no node field 9, .* has terminal \(1-byte Uint8Array\)/);
  assert.throws(() => checkNodeLayout([...layout, { name: 'extra', type: 'Int32Array', bytes: 4 }]), /node field 10 is extra \(4-byte Int32Array\), TypeScript's nodeArrays \(tree.ts\) has no field 10/);
  assert.throws(() => checkNodeLayout(undefined), /exports no nodeLayout: rebuild the addon/);
});

test('arena arrays are views of native memory, not copies', () => {
  const tree = new NativeTree(2, 16);
  const { flags, treeSize, parent } = tree.arrays;
  assert.equal(flags.length, 32);
  assert.equal(treeSize.length, 2);
  const t = tree.acquire();
  assert.equal(treeSize[t], 1, 'acquire is visible through the view');
  assert.equal(parent[0], -1);
  const leaves = new Int32Array(1);
  tree.select(Int32Array.of(0), leaves, 0, 2);
  assert.equal(leaves[0], 0);
  assert.equal(flags[0]! & Flag.pending, Flag.pending, 'select wrote into the same memory');
  const first = new Int32Array(1);
  tree.expand(Int32Array.of(0), Int32Array.of(3), Uint8Array.of(Terminal.none, Terminal.answer, Terminal.none), first);
  assert.deepEqual([first[0], treeSize[0], tree.arrays.terminal[2]], [1, 4, Terminal.answer]);
  // Subarrays of the batch arguments are read in place too.
  const batch = new Int32Array([99, 1, 99]);
  tree.initValues(batch.subarray(1, 2), Float32Array.of(0.5));
  assert.equal(tree.arrays.valueSum[1], 0.5);
});

test('bad arguments raise errors that say what is wrong', () => {
  const tree = new NativeTree(1, 8);
  tree.acquire();
  assert.throws(() => tree.select(new Float32Array(1) as unknown as Int32Array, new Int32Array(1), 0, 2), /starts must be an Int32Array/);
  assert.throws(() => tree.select(Int32Array.of(5), new Int32Array(1), 0, 2), /select: node 5 is not allocated/);
  assert.throws(() => tree.select(Int32Array.of(0), new Int32Array(1), 7, 2), /mode must be 0 \(rstar\) or 1 \(classic\)/);
  assert.throws(() => tree.expand(Int32Array.of(0), Int32Array.of(9), new Uint8Array(9), new Int32Array(1)), /tree 0 is full/);
  assert.throws(() => tree.release(3), /release: tree 3 is not in use/);
  assert.throws(() => new NativeTree(1 << 16, 1 << 16), /must fit in int32/);
});
