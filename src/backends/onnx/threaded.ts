// The ONNX policy and PPM, each on its own worker thread (worker.ts), behind the same
// Policy / Ppm interfaces: the search's main thread only sends requests and takes results.
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { onnxPolicyDefaults, type OnnxPolicyOptions, type OnnxPolicyStats } from './policy.js';
import type { Policy, Ppm, Refused, ScoreRequest, StepRequest } from '../../engine/backend.js';
import type { PpmHead } from '../../engine/head.js';
import { onnxPpmDefaults, type OnnxPpmOptions, type OnnxPpmStats } from './ppm.js';
import { workerFile } from '../../util/worker-file.js';
import { readConfig, type OutputName } from './runner.js';
import { checkTokenizerFile } from './tokenizer.js';
import type { ModelTask, ModelWorkerData } from './worker.js';

interface Info {
  provider: string;
  providerReason: string;
  output?: OutputName;
  head?: { weight: number[]; bias: number };
}

/** One worker thread holding one model; errors opening the model surface from open(). */
class ModelThread {
  private constructor(
    private readonly pool: Piscina,
    readonly info: Info,
  ) {}

  static async open(data: ModelWorkerData): Promise<ModelThread> {
    // An error crosses the thread boundary as a plain Error: what the user must fix about the
    // model dir is found here first, as the InputError it is.
    checkTokenizerFile(join(data.options.dir, 'tokenizer.json'));
    readConfig(data.options.dir);
    const pool = new Piscina({
      filename: workerFile(import.meta.url, './worker'),
      minThreads: 1,
      maxThreads: 1,
      // calls queue here, and each runs whole: decoding batches are built per call
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: data,
    });
    try {
      return new ModelThread(pool, (await pool.run({ op: 'info' } satisfies ModelTask)) as Info);
    } catch (e) {
      await pool.destroy();
      throw e;
    }
  }

  run<T>(task: ModelTask): Promise<T> {
    return this.pool.run(task) as Promise<T>;
  }

  async close(): Promise<void> {
    await this.pool.run({ op: 'close' } satisfies ModelTask);
    await this.pool.destroy();
  }
}

export class ThreadedOnnxPolicy implements Policy {
  readonly name = 'onnx';
  private constructor(private readonly thread: ModelThread) {}

  static async open(options: Partial<OnnxPolicyOptions> & Pick<OnnxPolicyOptions, 'dir'>): Promise<ThreadedOnnxPolicy> {
    return new ThreadedOnnxPolicy(await ModelThread.open({ kind: 'policy', options: { ...onnxPolicyDefaults, ...options } }));
  }

  get provider(): string {
    return this.thread.info.provider;
  }
  get providerReason(): string {
    return this.thread.info.providerReason;
  }

  generate(requests: StepRequest[]): Promise<(string[] | Refused)[]> {
    return this.thread.run({ op: 'generate', requests });
  }

  stats(): Promise<OnnxPolicyStats> {
    return this.thread.run({ op: 'stats' });
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}

export class ThreadedOnnxPpm implements Ppm {
  readonly name = 'onnx';
  readonly head: PpmHead | undefined;
  readonly output: OutputName;

  private constructor(private readonly thread: ModelThread) {
    const h = thread.info.head;
    this.head = h ? { weight: Float32Array.from(h.weight), bias: h.bias } : undefined;
    this.output = thread.info.output!;
  }

  static async open(options: Partial<OnnxPpmOptions> & Pick<OnnxPpmOptions, 'dir'>): Promise<ThreadedOnnxPpm> {
    return new ThreadedOnnxPpm(await ModelThread.open({ kind: 'ppm', options: { ...onnxPpmDefaults, ...options } }));
  }

  get provider(): string {
    return this.thread.info.provider;
  }
  get providerReason(): string {
    return this.thread.info.providerReason;
  }

  score(requests: ScoreRequest[]): Promise<(number | Refused)[]> {
    return this.thread.run({ op: 'score', requests });
  }

  hidden(requests: ScoreRequest[]): Promise<{ hidden: Float32Array; refused: (Refused | undefined)[] }> {
    return this.thread.run({ op: 'hidden', requests }); // copied back: small next to the model run
  }

  stats(): Promise<OnnxPpmStats> {
    return this.thread.run({ op: 'stats' });
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
