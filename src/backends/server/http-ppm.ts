// A PPM served over HTTP, in the shape of vLLM's pooling API (a reward / process-reward model
// served with `vllm serve MODEL --task reward`, or any server answering the same JSON):
//   POST URL {"model": M, "input": [text, ...]}
//   -> {"data": [{"index": i, "data": <the model's output for text i>}, ...]}
// The output may be a number, or per-token values (a list, of numbers or of small lists):
// the value of the LAST token is the step's score, as rStar-Math's PPM reads it. `raw`
// values are raw scores r, mapped to tanh(r / 5); `unit` values are already in [-1, 1].
// Calls go through the official openai client for its retries (backoff on 408/409/429/5xx
// and dropped connections, honouring retry-after), with bounded concurrency.
import OpenAI from 'openai';
import { explainApiError } from './openai.js';
import { defaultPromptTemplate, renderPrompt } from '../../format/prompt.js';
import { Limiter } from '../../util/limiter.js';
import { rawScore } from '../../engine/head.js';
import type { Ppm, ScoreRequest } from '../../engine/backend.js';
import { UsageError } from '../../errors.js';

export interface HttpPpmOptions {
  /** the scoring endpoint, e.g. http://127.0.0.1:8001/pooling */
  url: string;
  model: string;
  apiKey: string;
  /** raw: scores are r, the PPM value is tanh(r / 5); unit: already in [-1, 1] */
  values: 'raw' | 'unit';
  /** texts in one request */
  batch: number;
  concurrency: number;
  maxRetries: number;
  timeoutMs: number;
  template: string;
}

export const httpPpmDefaults: Omit<HttpPpmOptions, 'url' | 'model'> = {
  apiKey: process.env['OPENAI_API_KEY'] ?? 'none',
  values: 'raw',
  batch: 64,
  concurrency: 8,
  maxRetries: 5,
  timeoutMs: 600_000,
  template: defaultPromptTemplate,
};

interface PoolingResponse {
  data?: { index?: number; data?: unknown }[];
}

export class HttpPpm implements Ppm {
  readonly name = 'http';
  readonly options: HttpPpmOptions;
  private readonly client: OpenAI;
  private readonly limiter: Limiter;

  constructor(options: Partial<HttpPpmOptions> & Pick<HttpPpmOptions, 'url' | 'model'>) {
    this.options = { ...httpPpmDefaults, ...options };
    const o = this.options;
    if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw new UsageError(`ppm http: batch must be an integer >= 1 (got ${o.batch})`);
    this.limiter = new Limiter(o.concurrency);
    this.client = new OpenAI({ baseURL: new URL(o.url).origin, apiKey: o.apiKey, maxRetries: o.maxRetries, timeout: o.timeoutMs });
  }

  async score(requests: ScoreRequest[]): Promise<number[]> {
    const o = this.options;
    const texts = requests.map((r) => renderPrompt(o.template, r.problem, r.steps));
    const calls: Promise<number[]>[] = [];
    for (let i = 0; i < texts.length; i += o.batch) calls.push(this.limiter.run(() => this.call(texts.slice(i, i + o.batch))));
    return (await Promise.all(calls)).flat();
  }

  private async call(input: string[]): Promise<number[]> {
    const o = this.options;
    let response: PoolingResponse;
    try {
      response = await this.client.post<PoolingResponse>(o.url, { body: { model: o.model, input } });
    } catch (e) {
      throw explainApiError(e, 'ppm http', o.url, o.model, o.timeoutMs);
    }
    const data = response?.data;
    if (!Array.isArray(data) || data.length !== input.length) {
      throw new Error(`ppm http: ${o.url} answered ${Array.isArray(data) ? `${data.length} results` : 'without a "data" list'} for ${input.length} texts`);
    }
    const scores = new Array<number>(input.length);
    data.forEach((d, k) => {
      const i = typeof d.index === 'number' ? d.index : k;
      const v = lastValue(d.data);
      if (v === undefined || i < 0 || i >= input.length) throw new Error(`ppm http: ${o.url}: result ${k} holds no score (${JSON.stringify(d).slice(0, 200)})`);
      const s = o.values === 'raw' ? rawScore(v) : v;
      if (!(s >= -1 && s <= 1)) throw new Error(`ppm http: ${o.url}: score ${v} of text ${i} is outside [-1, 1] (use values raw for unbounded scores)`);
      scores[i] = s;
    });
    return scores;
  }
}

/** The last token's value: a number, or the last element of nested lists; [a, b] pairs of a classifier give b. */
function lastValue(x: unknown): number | undefined {
  if (typeof x === 'number' && Number.isFinite(x)) return x;
  if (Array.isArray(x) && x.length > 0) return lastValue(x[x.length - 1]);
  return undefined;
}
