// The progress bars' ETA: the whole run's rate, not the last few updates'.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { etaSeconds, formatEta } from '../src/run/progress.js';

test('the ETA is the time left at the rate since the start', () => {
  // 41 of 238 problems in 11m55s (a real synth run): 197 left at 17.4 s each.
  assert.equal(etaSeconds(715_000, 41, 238), 3436);
  assert.equal(formatEta(etaSeconds(715_000, 41, 238)), '57m15s');
  assert.equal(etaSeconds(60_000, 10, 100), 540);
  assert.equal(formatEta(540), '9m0s');
  assert.equal(formatEta(3 * 3600 + 5 * 60), '3h5m');
  assert.equal(etaSeconds(60_000, 100, 100), 0);
});

test('no ETA before the first item is done', () => {
  assert.equal(etaSeconds(30_000, 0, 100), undefined);
  assert.equal(etaSeconds(0, 0, 100), undefined);
  assert.equal(formatEta(undefined), '--');
});
