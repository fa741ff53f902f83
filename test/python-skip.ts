// Tests that run Python skip, saying why, on a machine without a usable Python 3.
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
