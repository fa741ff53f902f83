// A piscina worker that holds one ONNX model (a policy or a PPM) for its whole life.
// onnxruntime-node runs a session synchronously on the calling thread: in a worker, the
// model computes while the main thread keeps the search's other stages moving.
import { workerData } from 'node:worker_threads';
import { OnnxPolicy, type OnnxPolicyOptions } from './policy.js';
import type { ScoreRequest, StepRequest } from '../../engine/backend.js';
import { OnnxPpm, type OnnxPpmOptions } from './ppm.js';

export type ModelWorkerData = { kind: 'policy'; options: OnnxPolicyOptions } | { kind: 'ppm'; options: OnnxPpmOptions };

export type ModelTask =
  | { op: 'info' }
  | { op: 'stats' }
  | { op: 'close' }
  | { op: 'generate'; requests: StepRequest[] }
  | { op: 'score'; requests: ScoreRequest[] }
  | { op: 'hidden'; requests: ScoreRequest[] };

const data = workerData as ModelWorkerData;
let opened: Promise<OnnxPolicy | OnnxPpm> | undefined;
const model = () => (opened ??= data.kind === 'policy' ? OnnxPolicy.open(data.options) : OnnxPpm.open(data.options));

export default async function run(task: ModelTask): Promise<unknown> {
  const m = await model();
  switch (task.op) {
    case 'info':
      return m instanceof OnnxPolicy
        ? { provider: m.decoder.provider, providerReason: m.decoder.providerReason }
        : { provider: m.decoder.provider, providerReason: m.decoder.providerReason, output: m.output, head: m.head ? { weight: Array.from(m.head.weight), bias: m.head.bias } : undefined };
    case 'stats':
      return m.stats();
    case 'close':
      return m.close();
    case 'generate':
      return (m as OnnxPolicy).generate(task.requests);
    case 'score':
      return (m as OnnxPpm).score(task.requests);
    case 'hidden':
      return (m as OnnxPpm).hidden(task.requests);
  }
}
