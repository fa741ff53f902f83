// What runs a decoder model, behind one interface: ONNX Runtime over model.onnx (ort.ts), or
// the engine's own CPU kernels over model.safetensors (native.ts). decoder.ts builds every
// call over a ragged batch (see its header) and keeps the KV cache; a runner only computes
// one call. Both take the in-place kind's inputs; ONNX Runtime also runs the concat kind.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../errors.js';

/** Where a model runs: auto tries the CUDA provider and falls back to the CPU. */
export type ProviderChoice = 'auto' | 'cpu' | 'cuda';
/** What ran it: ONNX Runtime's CPU or CUDA provider, or the engine's own CPU kernels. */
export type Provider = 'cpu' | 'cuda' | 'native';

/** Who runs the model: auto takes the native kernels where they apply (native.ts) and the device is not a GPU. */
export type RuntimeChoice = 'auto' | 'onnxruntime' | 'native';

/** The model's output the caller wants at each position. */
export type OutputName = 'logits' | 'last_hidden_state' | 'score';

export interface ModelShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  hidden: number;
}

/** How a model returns its cache (decoder.ts's header). */
export type KvKind = 'concat' | 'in-place';

/** How the cache is stored: float32, or bfloat16 bits (the native kernels only: half the bytes each step reads). */
export type KvType = 'float32' | 'bfloat16';
export type KvData = Float32Array | Uint16Array;

/** A KV buffer of `n` values of the type. */
export function kvArray(type: KvType, n: number): KvData {
  return type === 'float32' ? new Float32Array(n) : new Uint16Array(n);
}

/** One call: each row's new tokens after its past (decoder.ts pads and masks them). */
export interface ModelCall {
  rows: number;
  /** new positions per row (T) */
  tokens: number;
  /** positions in each past buffer, masked room included (P) */
  past: number;
  /** [rows, T] */
  ids: Int32Array;
  /** [rows, T] */
  positions: Int32Array;
  /** [rows, P + T]: 1 where a position is attended to */
  mask: Uint8Array;
  /** per layer key then value: [rows, kvHeads, P, headDim] */
  kv: KvData[];
}

export interface ModelRunner {
  readonly provider: Provider;
  /** why this provider: asked for, or what made another one unusable */
  readonly providerReason: string;
  readonly kvKind: KvKind;
  readonly kvType: KvType;
  readonly shape: ModelShape;
  hasOutput(name: OutputName): boolean;
  /** `output` at every position ([rows, T, width]) and the cache: the new positions [rows, kvHeads, T, headDim] (in-place) or past and new (concat) */
  run(call: ModelCall, output: OutputName): Promise<{ out: Float32Array; cache: KvData[] }>;
  release(): Promise<void>;
}

export function firstLine(s: string): string {
  return s.split('\n', 1)[0]!.slice(0, 300);
}

/** config.json of a model dir (Hugging Face names). */
export function readConfig(dir: string): Record<string, unknown> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(`model: ${path} is missing (a model dir holds model.onnx, config.json and tokenizer.json)`, { cause: e });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`model: ${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

export function configInt(config: Record<string, unknown>, key: string, path: string): number {
  const v = config[key];
  if (!(typeof v === 'number' && Number.isInteger(v) && v > 0)) throw new Error(`model: ${path}: "${key}" must be a positive integer (got ${JSON.stringify(v)})`);
  return v;
}

/**
 * hidden_size, and the KV head count and head size: those `known` (an export's own shapes),
 * else from config.json (kv heads default to the heads, head_dim to hidden / heads).
 */
export function configDims(config: Record<string, unknown>, path: string, known: { kvHeads?: number | undefined; headDim?: number | undefined } = {}): { hidden: number; kvHeads: number; headDim: number } {
  const hidden = configInt(config, 'hidden_size', path);
  const heads = typeof config['num_attention_heads'] === 'number' ? (config['num_attention_heads'] as number) : undefined;
  const kvHeads = known.kvHeads ?? (typeof config['num_key_value_heads'] === 'number' ? configInt(config, 'num_key_value_heads', path) : configInt(config, 'num_attention_heads', path));
  const headDim = known.headDim ?? (typeof config['head_dim'] === 'number' ? configInt(config, 'head_dim', path) : hidden / (heads ?? NaN));
  if (!(Number.isInteger(headDim) && headDim > 0)) throw new Error(`model: ${path}: cannot tell head_dim (give "head_dim" or "num_attention_heads")`);
  return { hidden, kvHeads, headDim };
}

/**
 * The positions the model was trained on (config.json: max_position_embeddings, or another
 * family's name for it); undefined when the config does not say. Past them a model with
 * learned positions fails and one with rotary positions degrades.
 */
export function contextOf(config: Record<string, unknown>): number | undefined {
  for (const key of ['max_position_embeddings', 'n_positions', 'max_sequence_length', 'seq_length', 'n_ctx']) {
    const v = config[key];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  return undefined;
}
