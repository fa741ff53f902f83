// A piscina worker: owns one Python interpreter for its whole life (started on the first
// task) and runs each task's programs through it, in order.
import { workerData } from 'node:worker_threads';
import { PythonProcess, type ExecRequest, type ExecResult, type ExecutorOptions } from './executor.js';

export type ExecutorTask = { run: ExecRequest[] } | { drop: string } | { hello: true };

const options = (workerData as { options: ExecutorOptions }).options;
let python: PythonProcess | undefined;

export default async function task(t: ExecutorTask): Promise<ExecResult[] | Record<string, unknown>> {
  python ??= new PythonProcess(options);
  if ('drop' in t) {
    python.drop(t.drop);
    return [];
  }
  if ('hello' in t) {
    await python.whenReady();
    return { ...python.hello, namespaces: python.namespaces, starts: python.starts };
  }
  return python.run(t.run);
}
