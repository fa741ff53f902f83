// A decoder model run by onnxruntime-node, in the Optimum / Transformers.js I/O convention:
//   input_ids [B,T], attention_mask [B,P+T], position_ids [B,T],
//   past_key_values.{i}.key|value [B,kvHeads,P,headDim]
//   -> logits [B,T,V] | last_hidden_state [B,T,H] | score [B,T], and the cache, one of:
//      present.{i}.key|value [B,kvHeads,P+T,headDim]   (kind "concat": Optimum's exports)
//      new_key_values.{i}.key|value [B,kvHeads,T,headDim] (kind "in-place": the trainer's)
import * as ort from 'onnxruntime-node';
import { configDims, configInt, firstLine, type KvKind, type ModelCall, type ModelRunner, type ModelShape, type OutputName, type Provider, type ProviderChoice } from './runner.js';

// A failed CUDA provider attempt logs an error line of its own (through ORT's process-wide
// logger, read once when its environment starts); its message is reported in the provider
// reason instead. Errors that matter reach the caller as exceptions.
ort.env.logLevel = 'fatal';

export interface SessionChoice {
  session: ort.InferenceSession;
  provider: Provider;
  /** why this provider: asked for, or what made the CUDA provider fail to load */
  reason: string;
}

function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return { logSeverityLevel: 3, graphOptimizationLevel: 'all', ...(threads > 0 ? { intraOpNumThreads: threads } : {}) };
}

/** The model on ONNX Runtime's CUDA provider, or why it did not load (onnxruntime-node throws rather than falling back). */
export async function openCudaSession(path: string, threads: number): Promise<ort.InferenceSession | string> {
  try {
    return await ort.InferenceSession.create(path, { ...sessionOptions(threads), logSeverityLevel: 4, executionProviders: ['cuda'] });
  } catch (e) {
    return firstLine((e as Error).message);
  }
}

/** Opens model.onnx on CUDA when asked (or auto) and the provider loads, else on the CPU. */
export async function openSession(path: string, choice: ProviderChoice, threads = 0): Promise<SessionChoice> {
  let why = '';
  if (choice !== 'cpu') {
    const cuda = await openCudaSession(path, threads);
    if (typeof cuda !== 'string') return { session: cuda, provider: 'cuda', reason: choice === 'cuda' ? 'asked for' : 'auto: the CUDA provider loaded' };
    why = cuda;
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, { ...sessionOptions(threads), executionProviders: ['cpu'] });
  } catch (e) {
    throw new Error(`model: cannot load ${path}: ${firstLine((e as Error).message)}`, { cause: e });
  }
  const reason = choice === 'cpu' ? 'asked for' : `${choice === 'cuda' ? 'cuda asked for' : 'auto'}: the CUDA provider did not load (${why}); using the CPU provider`;
  return { session, provider: 'cpu', reason };
}

/** A known dimension from the model's own input/output shapes, else undefined. */
function dim(meta: readonly ort.InferenceSession.ValueMetadata[], name: string, axis: number): number | undefined {
  const m = meta.find((x) => x.name === name);
  if (!m || !m.isTensor) return undefined;
  const d = m.shape[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** Bytes from an int64's start to its low 32-bit word: int64 feeds are written through their low words, no BigInt per element. */
const lowWord = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 0 : 4;

function int64s(values: Int32Array | Uint8Array): BigInt64Array {
  const out = new BigInt64Array(values.length);
  const low = new Int32Array(out.buffer, lowWord);
  // the high words stay 0: ids, positions and masks are never negative
  for (let i = 0; i < values.length; i++) low[2 * i] = values[i]!;
  return out;
}

export class OrtRunner implements ModelRunner {
  readonly shape: ModelShape;
  readonly kvKind: KvKind;
  readonly kvType = 'float32';
  private readonly pastNames: string[];
  /** the cache outputs: present.* (concat) or new_key_values.* (in-place) */
  private readonly cacheNames: string[];

  constructor(
    readonly session: ort.InferenceSession,
    readonly provider: Provider,
    readonly providerReason: string,
    config: Record<string, unknown>,
    readonly path: string,
  ) {
    const inputs = session.inputNames;
    for (const need of ['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key']) {
      if (!inputs.includes(need)) throw new Error(`model: ${path} has no input "${need}" (inputs: ${inputs.join(', ')}); export it with a KV cache (Optimum's decoder-with-past convention)`);
    }
    let layers = 0;
    while (inputs.includes(`past_key_values.${layers}.key`)) layers++;
    this.kvKind = session.outputNames.includes('new_key_values.0.key') ? 'in-place' : 'concat';
    const prefix = this.kvKind === 'in-place' ? 'new_key_values' : 'present';
    this.pastNames = [];
    this.cacheNames = [];
    for (let i = 0; i < layers; i++) {
      for (const kind of ['key', 'value']) {
        this.pastNames.push(`past_key_values.${i}.${kind}`);
        this.cacheNames.push(`${prefix}.${i}.${kind}`);
      }
    }
    for (const name of this.cacheNames) {
      if (!session.outputNames.includes(name)) throw new Error(`model: ${path} has no output "${name}" for its input past_key_values (outputs: present.* or new_key_values.*)`);
    }
    const cfg = `${path} config.json`;
    const meta = session.inputMetadata;
    const { hidden, kvHeads, headDim } = configDims(config, cfg, { kvHeads: dim(meta, 'past_key_values.0.key', 1), headDim: dim(meta, 'past_key_values.0.key', 3) });
    this.shape = { layers, kvHeads, headDim, hidden, vocab: configInt(config, 'vocab_size', cfg) };
  }

  hasOutput(name: OutputName): boolean {
    return this.session.outputNames.includes(name);
  }

  async run(call: ModelCall, output: OutputName): Promise<{ out: Float32Array; cache: Float32Array[] }> {
    const { kvHeads, headDim } = this.shape;
    const { rows: B, tokens: T, past } = call;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', int64s(call.ids), [B, T]),
      position_ids: new ort.Tensor('int64', int64s(call.positions), [B, T]),
      attention_mask: new ort.Tensor('int64', int64s(call.mask), [B, past + T]),
    };
    this.pastNames.forEach((name, k) => (feeds[name] = new ort.Tensor('float32', call.kv[k] as Float32Array, [B, kvHeads, past, headDim])));
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run(feeds, [output, ...this.cacheNames]);
    } catch (e) {
      throw new Error(`model: ${this.path}: ${firstLine((e as Error).message)}`, { cause: e });
    }
    return { out: result[output]!.data as Float32Array, cache: this.cacheNames.map((n) => result[n]!.data as Float32Array) };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
