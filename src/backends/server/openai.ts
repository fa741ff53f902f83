// A policy served by an OpenAI-compatible completions endpoint (vLLM, SGLang, llama.cpp's
// server): one /v1/completions call per expansion asks for its n candidate steps, stopping
// at the rStar stop strings. Written against vLLM's and SGLang's completions API and the
// official `openai` client (retries with backoff on 408/409/429/5xx and dropped
// connections, honouring retry-after).
//
// Several servers of one model (baseURL "URL1,URL2,..."): a Fleet (fleet.ts) keeps each
// tree on one server for its prefix cache, balances by requests in flight and routes around
// failed servers.
//
// The stop string must stay in each step: vLLM keeps it with include_stop_str_in_output
// (sent), or reports it as `stop_reason`; SGLang reports it as `matched_stop`. A server that
// does neither returns unterminated steps, which the verifier classifies as invalid.
import OpenAI from 'openai';
import type { Problem } from '../../io/problems.js';
import { Limiter } from '../../util/limiter.js';
import { stopStrings } from '../../format/step.js';
import type { Policy, StepRequest } from '../../engine/backend.js';
import { defaultPromptTemplate, renderPrompt } from '../../format/prompt.js';
import { UsageError } from '../../errors.js';
import { Fleet, serverUrls, type FleetOptions } from './fleet.js';

export interface OpenAIPolicyOptions {
  /** the server's OpenAI base URL, e.g. http://127.0.0.1:8000/v1, or several: URL1,URL2,... */
  baseURL: string;
  model: string;
  apiKey: string;
  temperature: number;
  topP: number;
  /** most tokens of one step */
  maxTokens: number;
  seed?: number;
  /** completion calls in flight at once */
  concurrency: number;
  /** retries of one call on one server (with exponential backoff) before the server is taken out; at most 1 with several servers, so a failed one is left quickly */
  maxRetries: number;
  timeoutMs: number;
  /** with every server down, how long calls wait for one before the search fails */
  serverWaitMs: number;
  /** the text the model continues: the problem and the trajectory so far */
  prompt: (problem: Problem, steps: readonly string[]) => string;
}

/** The question, a blank line, then the trajectory so far (the default template). */
export function plainPrompt(problem: Problem, steps: readonly string[]): string {
  return renderPrompt(defaultPromptTemplate, problem, steps);
}

export const openAIPolicyDefaults: Omit<OpenAIPolicyOptions, 'baseURL' | 'model'> = {
  apiKey: process.env['OPENAI_API_KEY'] ?? 'none',
  temperature: 0.7,
  topP: 0.95,
  maxTokens: 1024,
  concurrency: 64,
  maxRetries: 5,
  timeoutMs: 600_000,
  serverWaitMs: 120_000,
  prompt: plainPrompt,
};

interface Choice {
  index: number;
  text: string;
  /** vLLM: the stop string that ended the choice */
  stop_reason?: string | number | null;
  /** SGLang: likewise */
  matched_stop?: string | number | null;
}

/** An error of a call to an OpenAI-compatible server, saying what to fix (the search fails on it). */
export function explainApiError(e: unknown, who: string, url: string, model: string, timeoutMs: number): Error {
  if (e instanceof OpenAI.APIConnectionTimeoutError) return new Error(`${who}: ${url} did not answer within ${timeoutMs} ms`, { cause: e });
  if (e instanceof OpenAI.APIConnectionError) {
    // fetch wraps the system error: the code (ECONNREFUSED...) sits down the cause chain
    let why: string = e.message;
    for (let c: unknown = e.cause; c instanceof Error; c = c.cause) why = (c as NodeJS.ErrnoException).code ?? c.message;
    // the flag names a server that is not there: the user's to fix
    return new UsageError(`${who}: cannot reach ${url} (${why})`, { cause: e });
  }
  if (e instanceof OpenAI.NotFoundError) return new UsageError(`${who}: ${url} has no model "${model}" or no such endpoint (404: ${e.message})`, { cause: e });
  if (e instanceof OpenAI.APIError) return new Error(`${who}: ${url} answered ${e.status ?? 'an error'}: ${e.message}`, { cause: e });
  return e instanceof Error ? e : new Error(String(e));
}

/** The step as the policy wrote it, its stop string kept. */
export function stepText(choice: Choice): string {
  if (stopStrings.some((s) => choice.text.endsWith(s))) return choice.text;
  for (const reported of [choice.stop_reason, choice.matched_stop]) {
    if (typeof reported === 'string' && (stopStrings as readonly string[]).includes(reported)) return choice.text + reported;
  }
  return choice.text;
}

export class OpenAIPolicy implements Policy {
  readonly name = 'openai';
  readonly options: OpenAIPolicyOptions;
  /** the servers: routing, failover and their figures (stats.json) */
  readonly fleet: Fleet;
  private readonly limiter: Limiter;

  constructor(options: Partial<OpenAIPolicyOptions> & Pick<OpenAIPolicyOptions, 'baseURL' | 'model'>, fleet: Partial<Omit<FleetOptions, 'who' | 'waitMs'>> = {}) {
    this.options = { ...openAIPolicyDefaults, ...options };
    const o = this.options;
    if (!(o.maxTokens >= 1)) throw new UsageError(`policy openai: maxTokens must be >= 1 (got ${o.maxTokens})`);
    this.limiter = new Limiter(o.concurrency);
    const urls = serverUrls(o.baseURL, 'policy openai');
    const maxRetries = urls.length > 1 ? Math.min(o.maxRetries, 1) : o.maxRetries;
    const servers = urls.map((url) => ({ url, client: new OpenAI({ baseURL: url, apiKey: o.apiKey, maxRetries, timeout: o.timeoutMs }) }));
    this.fleet = new Fleet(servers, { ...fleet, who: 'policy openai', waitMs: o.serverWaitMs });
  }

  async generate(requests: StepRequest[]): Promise<string[][]> {
    return Promise.all(requests.map((r) => this.limiter.run(() => this.complete(r))));
  }

  /** The tree is done: its server placement can go. */
  forget(problemId: string): void {
    this.fleet.forget(problemId);
  }


  private async complete({ problem, steps, n }: StepRequest): Promise<string[]> {
    const o = this.options;
    const body = {
      model: o.model,
      prompt: o.prompt(problem, steps),
      n,
      stop: [...stopStrings],
      temperature: o.temperature,
      top_p: o.topP,
      max_tokens: o.maxTokens,
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      include_stop_str_in_output: true, // vLLM: keep the stop string in the text
    };
    let failedOn = o.baseURL;
    try {
      return await this.fleet.call(problem.id, async (server) => {
        failedOn = server.url;
        const response = await server.client.completions.create(body);
        const choices = [...(response.choices as Choice[])].sort((a, b) => a.index - b.index);
        return { result: choices.map(stepText), promptTokens: response.usage?.prompt_tokens, completionTokens: response.usage?.completion_tokens };
      });
    } catch (e) {
      throw explainApiError(e, 'policy openai', failedOn, o.model, o.timeoutMs);
    }
  }
}
