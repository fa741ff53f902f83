// Tests that run Python skip, saying why, on a machine without a usable Python 3; those that
// train, on a machine without Debian's torch and onnx.
import { spawnSync } from 'node:child_process';
import { executorDefaults, resolvePython } from '../src/verify/executor.js';

function why(): string | false {
  try {
    resolvePython(executorDefaults.python);
    return false;
  } catch (e) {
    return `no Python 3 here (${(e as Error).message})`;
  }
}

/** false when Python runs here, else the reason to skip: pass it as node:test's `skip`. */
export const pythonSkip = why();

/** The Python the trainer runs with (RSTAR_TRAIN_PYTHON, else Debian's). */
export const trainPython = process.env['RSTAR_TRAIN_PYTHON'] ?? '/usr/bin/python3';

function whyNoTorch(): string | false {
  const r = spawnSync(trainPython, ['-c', 'import torch, onnx'], { encoding: 'utf8' });
  if (r.error) return `no ${trainPython} (${r.error.message})`;
  if (r.status !== 0) return 'training needs python3-torch and python3-onnx: apt-get install -y --no-install-recommends python3-torch python3-onnx libopenblas0-pthread';
  return false;
}

/** false when the trainer can run here, else the reason to skip. */
export const torchSkip = whyNoTorch();
