// A PPM served over HTTP, in the shape of vLLM's pooling API (a reward / process-reward model
// served with `vllm serve MODEL --task reward`, or any server answering the same JSON):
//   POST URL {"model": M, "input": [text, ...]}
//   -> {"data": [{"index": i, "data": <the model's output for text i>}, ...]}
// The output may be a number, or per-token values (a list, of numbers or of small lists):
// the value of the LAST token is the step's score, as rStar-Math's PPM reads it. `raw`
// values are raw scores r, mapped to tanh(r / 5); `unit` values are already in [-1, 1].
// Calls go through the official openai client for its retries (backoff on 408/409/429/5xx
// and dropped connections, honouring retry-after), with bounded concurrency. Several servers
// (url "URL1,URL2,...", each the full scoring URL) form a Fleet (fleet.ts): a tree's texts go
// to its server, in requests of at most `batch` texts of that tree.
import OpenAI from 'openai';
import { explainApiError } from './openai.js';
import { defaultPromptTemplate, renderPrompt } from '../../format/prompt.js';
import { Limiter } from '../../util/limiter.js';
import { rawScore } from '../../engine/head.js';
import type { Ppm, ScoreRequest } from '../../engine/backend.js';
import { UsageError } from '../../errors.js';
import { Fleet, serverUrls } from './fleet.js';

export interface HttpPpmOptions {
  /** the scoring endpoint, e.g. http://127.0.0.1:8001/pooling, or several: URL1,URL2,... */
  url: string;
  model: string;
  apiKey: string;
  /** raw: scores are r, the PPM value is tanh(r / 5); unit: already in [-1, 1] */
  values: 'raw' | 'unit';
  /** texts in one request */
  batch: number;
  concurrency: number;
  /** retries of one call on one server before the server is taken out; at most 1 with several servers */
  maxRetries: number;
  timeoutMs: number;
  /** with every server down, how long calls wait for one before the search fails */
  serverWaitMs: number;
  template: string;
}

export const httpPpmDefaults: Omit<HttpPpmOptions, 'url' | 'model'> = {
  apiKey: process.env['OPENAI_API_KEY'] ?? 'none',
  values: 'raw',
  batch: 64,
  concurrency: 32,
  maxRetries: 5,
  timeoutMs: 600_000,
  serverWaitMs: 120_000,
  template: defaultPromptTemplate,
};

interface PoolingResponse {
  data?: { index?: number; data?: unknown }[];
}

export class HttpPpm implements Ppm {
  readonly name = 'http';
  readonly options: HttpPpmOptions;
  /** the servers: routing, failover and their figures (stats.json) */
  readonly fleet: Fleet;
  private readonly limiter: Limiter;

  constructor(options: Partial<HttpPpmOptions> & Pick<HttpPpmOptions, 'url' | 'model'>) {
    this.options = { ...httpPpmDefaults, ...options };
    const o = this.options;
    if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw new UsageError(`ppm http: batch must be an integer >= 1 (got ${o.batch})`);
    this.limiter = new Limiter(o.concurrency);
    const urls = serverUrls(o.url, 'ppm http');
    const maxRetries = urls.length > 1 ? Math.min(o.maxRetries, 1) : o.maxRetries;
    const servers = urls.map((url) => ({ url, client: new OpenAI({ baseURL: new URL(url).origin, apiKey: o.apiKey, maxRetries, timeout: o.timeoutMs }) }));
    // a pooling server has no one readiness route: any answer below 500 from its /health says it is up
    const probe = async (s: { url: string }) => {
      const r = await fetch(`${new URL(s.url).origin}/health`, { signal: AbortSignal.timeout(5000) });
      if (r.status >= 500) throw new Error(`/health answered ${r.status}`);
    };
    this.fleet = new Fleet(servers, { who: 'ppm http', waitMs: o.serverWaitMs }, probe);
  }

  async score(requests: ScoreRequest[]): Promise<number[]> {
    const o = this.options;
    // each tree's texts go to its server together, `batch` at a time
    const byTree = new Map<string, number[]>();
    requests.forEach((r, i) => byTree.set(r.problem.id, [...(byTree.get(r.problem.id) ?? []), i]));
    const scores = new Array<number>(requests.length);
    const calls: Promise<void>[] = [];
    for (const [tree, indices] of byTree) {
      for (let at = 0; at < indices.length; at += o.batch) {
        const chunk = indices.slice(at, at + o.batch);
        const texts = chunk.map((i) => renderPrompt(o.template, requests[i]!.problem, requests[i]!.steps));
        calls.push(this.limiter.run(() => this.call(tree, texts)).then((s) => chunk.forEach((i, k) => (scores[i] = s[k]!))));
      }
    }
    await Promise.all(calls);
    return scores;
  }

  /** The tree is done: its server placement can go. */
  forget(problemId: string): void {
    this.fleet.forget(problemId);
  }


  private async call(tree: string, input: string[]): Promise<number[]> {
    const o = this.options;
    let url = o.url;
    let response: PoolingResponse;
    try {
      response = await this.fleet.call(tree, async (server) => {
        url = server.url;
        const r = await server.client.post<PoolingResponse & { usage?: { prompt_tokens?: number } }>(server.url, { body: { model: o.model, input } });
        return { result: r, promptTokens: r?.usage?.prompt_tokens };
      });
    } catch (e) {
      throw explainApiError(e, 'ppm http', url, o.model, o.timeoutMs);
    }
    const data = response?.data;
    if (!Array.isArray(data) || data.length !== input.length) {
      throw new Error(`ppm http: ${url} answered ${Array.isArray(data) ? `${data.length} results` : 'without a "data" list'} for ${input.length} texts`);
    }
    const scores = new Array<number>(input.length);
    data.forEach((d, k) => {
      const i = typeof d.index === 'number' ? d.index : k;
      const v = lastValue(d.data);
      if (v === undefined || i < 0 || i >= input.length) throw new Error(`ppm http: ${url}: result ${k} holds no score (${JSON.stringify(d).slice(0, 200)})`);
      const s = o.values === 'raw' ? rawScore(v) : v;
      if (!(s >= -1 && s <= 1)) throw new Error(`ppm http: ${url}: score ${v} of text ${i} is outside [-1, 1] (use values raw for unbounded scores)`);
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
