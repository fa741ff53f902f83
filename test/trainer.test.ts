// The Python trainer's own tests (trainer/tests, unittest), run with Debian's python3 that
// has torch and onnx; without them they skip, saying what to install.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { torchSkip, trainPython as python } from './python-skip.js';

const root = fileURLToPath(new URL('..', import.meta.url));
test('trainer/tests (python -m unittest)', { skip: torchSkip, timeout: 600_000 }, () => {
  const r = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'trainer/tests'], { cwd: root, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /\nOK/);
});
