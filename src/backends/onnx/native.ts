// The engine's own CPU kernels for the trainer's models (native/include/rstar/decoder.hpp):
// the weights from model.safetensors, the same calls as ONNX Runtime's in-place kind, and a
// bfloat16 cache if asked. They apply to a model dir whose config.json says model_type
// "rstar-tiny" and that holds model.safetensors (the trainer writes it beside model.onnx).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireAddon } from '../../util/addon.js';
import { InputError } from '../../errors.js';
import { configDims, configInt, kvArray, type KvData, type KvType, type ModelCall, type ModelRunner, type ModelShape, type OutputName } from './runner.js';

interface AddonDecoder {
  readonly threads: number;
  forward(rows: number, tokens: number, past: number, ids: Int32Array, positions: Int32Array, mask: Uint8Array, pastKv: KvData[], newKv: KvData[], output: number, out: Float32Array): void;
}
type AddonDecoderClass = new (shape: Record<string, number>, kvType: number, weights: Record<string, Float32Array>, threads: number) => AddonDecoder;

const outputCode: Record<OutputName, number> = { logits: 0, last_hidden_state: 1, score: 2 };

/** Why the native kernels cannot run this model dir, or undefined when they can. */
export function nativeUnusable(dir: string, config: Record<string, unknown>): string | undefined {
  if (config['model_type'] !== 'rstar-tiny') return `config.json's model_type is ${JSON.stringify(config['model_type'])}, not "rstar-tiny"`;
  if (config['rstar_weights'] !== undefined) return `config.json says model.onnx holds ${JSON.stringify(config['rstar_weights'])} weights, which model.safetensors does not`;
  if (!existsSync(join(dir, 'model.safetensors'))) return `${join(dir, 'model.safetensors')} is missing (the trainer writes it; for an older dir: cd trainer && python3 -m rstar_trainer.export --from DIR --safetensors-only)`;
  if (typeof (requireAddon() as { NativeDecoder?: unknown }).NativeDecoder !== 'function') return 'the addon has no NativeDecoder (an older build: npm run build:native)';
  return undefined;
}

/**
 * The float32 tensors of a safetensors file by name (header: an 8-byte little-endian size,
 * then JSON name -> {dtype, shape, data_offsets} relative to the data after the header).
 */
export function readSafetensors(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const bytes = readFileSync(path);
  const bad = (why: string) => new InputError(`model: ${path} is not a usable safetensors file: ${why}`);
  if (bytes.length < 8) throw bad('shorter than its header size');
  const size = Number(bytes.readBigUInt64LE(0));
  if (8 + size > bytes.length) throw bad(`its header size ${size} runs past the end`);
  let header: Record<string, { dtype?: string; shape?: number[]; data_offsets?: [number, number] }>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + size).toString('utf8'));
  } catch (e) {
    throw bad(`its header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + size;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F32') throw bad(`tensor "${name}" is ${t.dtype}; the native kernels read F32`);
    const [start, end] = t.data_offsets ?? [NaN, NaN];
    const count = (t.shape ?? []).reduce((a, b) => a * b, 1);
    if (!(Number.isInteger(start) && end === start + 4 * count && base + end <= bytes.length)) throw bad(`tensor "${name}"'s data_offsets do not match its shape or the file`);
    // a copy: the file's offsets need not be 4-byte aligned
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes.subarray(base + start, base + end));
    tensors.set(name, { shape: t.shape ?? [], data });
  }
  return tensors;
}

export class NativeRunner implements ModelRunner {
  readonly provider = 'native';
  readonly kvKind = 'in-place';
  readonly shape: ModelShape;
  private readonly decoder: AddonDecoder;
  private readonly outputs: Set<OutputName>;

  constructor(
    dir: string,
    config: Record<string, unknown>,
    readonly kvType: KvType,
    threads: number,
    readonly providerReason: string,
  ) {
    const cfg = `${join(dir, 'config.json')}`;
    const heads = configInt(config, 'num_attention_heads', cfg);
    const { hidden, kvHeads, headDim } = configDims(config, cfg);
    const shape = {
      vocab: configInt(config, 'vocab_size', cfg),
      hidden,
      layers: configInt(config, 'num_hidden_layers', cfg),
      heads,
      kvHeads,
      headDim,
      intermediate: configInt(config, 'intermediate_size', cfg),
      ropeTheta: typeof config['rope_theta'] === 'number' ? config['rope_theta'] : 10000,
      rmsEps: typeof config['rms_norm_eps'] === 'number' ? config['rms_norm_eps'] : 1e-6,
    };
    const weights: Record<string, Float32Array> = {};
    for (const [name, t] of readSafetensors(join(dir, 'model.safetensors'))) weights[name] = t.data;
    const Native = (requireAddon() as { NativeDecoder: AddonDecoderClass }).NativeDecoder;
    try {
      this.decoder = new Native(shape, kvType === 'bfloat16' ? 1 : 0, weights, threads);
    } catch (e) {
      throw new InputError(`model: ${join(dir, 'model.safetensors')}: ${(e as Error).message}`, { cause: e });
    }
    this.shape = { layers: shape.layers, kvHeads, headDim, hidden, vocab: shape.vocab };
    this.outputs = new Set<OutputName>(['last_hidden_state']);
    if (weights['lm_head.weight']) this.outputs.add('logits');
    if (weights['value_head.weight']) this.outputs.add('score');
  }

  get threads(): number {
    return this.decoder.threads;
  }

  hasOutput(name: OutputName): boolean {
    return this.outputs.has(name);
  }

  run(call: ModelCall, output: OutputName): Promise<{ out: Float32Array; cache: KvData[] }> {
    const { kvHeads, headDim } = this.shape;
    const width = output === 'logits' ? this.shape.vocab : output === 'last_hidden_state' ? this.shape.hidden : 1;
    const out = new Float32Array(call.rows * call.tokens * width);
    const cache = call.kv.map(() => kvArray(this.kvType, call.rows * kvHeads * call.tokens * headDim));
    this.decoder.forward(call.rows, call.tokens, call.past, call.ids, call.positions, call.mask, call.kv, cache, outputCode[output], out);
    return Promise.resolve({ out, cache });
  }

  release(): Promise<void> {
    return Promise.resolve(); // the addon object is freed with its last reference
  }
}
