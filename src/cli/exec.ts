// `rstar exec`: one program through the sandboxed executor, its classified result printed
// as one JSON line: {"ok", "stdout", "error", "message", "ms"}. Exits 3 when the program
// failed (the line says how), 2 on bad options or a missing file.
import { readFile } from 'node:fs/promises';
import type { Argv } from 'yargs';
import { executorDefaults } from '../verify/executor.js';
import { ExecutorPool } from '../verify/executor-pool.js';
import { UsageError } from '../errors.js';

export function execOptions(y: Argv) {
  const d = executorDefaults;
  return y
    .option('file', { type: 'string', demandOption: true, describe: 'the Python program (/dev/stdin to pipe it in)' })
    .option('timeout', { type: 'number', default: d.timeoutS, describe: 'wall-clock seconds before the run is stopped' })
    .option('memory-mb', { type: 'number', default: d.memoryMb, describe: 'memory the program may allocate' })
    .option('isolation', { choices: ['inprocess', 'fork'] as const, default: d.isolation, describe: 'fresh namespace in a persistent interpreter, or a child process per run' })
    .option('sandbox', { choices: ['auto', 'namespaces', 'none'] as const, default: d.sandbox, describe: 'run the interpreter in user + network namespaces (auto: when available)' })
    .option('python', { type: 'string', default: d.python, describe: 'the Python 3 interpreter' });
}

type ExecArgs = Awaited<ReturnType<ReturnType<typeof execOptions>['parseAsync']>>;

export async function exec(args: ExecArgs): Promise<void> {
  if (!(args.timeout > 0)) throw new UsageError(`timeout must be a number > 0 (got ${args.timeout})`);
  if (!(args['memory-mb'] >= 16)) throw new UsageError(`memory-mb must be >= 16 (got ${args['memory-mb']})`);
  const program = await readFile(args.file, 'utf8');
  const pool = new ExecutorPool({
    workers: 1,
    timeoutS: args.timeout,
    memoryMb: args['memory-mb'],
    isolation: args.isolation,
    sandbox: args.sandbox,
    python: args.python,
  });
  try {
    const [result] = await pool.execute([{ program }]);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    if (!result!.ok) process.exitCode = 3;
  } finally {
    await pool.close();
  }
}
