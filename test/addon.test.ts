import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadAddon, NativeTree } from '../src/engine/native.js';
import { Flag, SelectResult, Terminal } from '../src/engine/tree.js';

test('the addon loads and agrees with the TypeScript constants', () => {
  const addon = loadAddon();
  assert.equal(typeof addon.Arena, 'function');
  assert.equal(addon.constants['selectBlocked'], SelectResult.blocked);
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
