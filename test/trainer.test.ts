// The Python trainer's own tests (trainer/tests, unittest), run with Debian's python3 that
// has torch and onnx; without them they skip, saying what to install.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const python = process.env['RSTAR_TRAIN_PYTHON'] ?? '/usr/bin/python3';

function why(): string | false {
  const r = spawnSync(python, ['-c', 'import torch, onnx'], { encoding: 'utf8' });
  if (r.error) return `no ${python} (${r.error.message})`;
  if (r.status !== 0) return 'training needs python3-torch and python3-onnx: apt-get install -y --no-install-recommends python3-torch python3-onnx libopenblas0-pthread';
  return false;
}

test('trainer/tests (python -m unittest)', { skip: why(), timeout: 600_000 }, () => {
  const r = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'trainer/tests'], { cwd: root, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /\nOK/);
});
