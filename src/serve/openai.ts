// `rstar serve`: a policy behind the OpenAI completions API (the engine's own ONNX policy, or
// the simulated server of sim/server.ts for benchmarks), the subset
// that rstar's server policy (backends/server/openai.ts) and vLLM-style clients use:
//   GET  /v1/models       -> {object: "list", data: [{id: MODEL, object: "model"}]}
//   POST /v1/completions  {model, prompt: string | string[], n, temperature, top_p,
//                          max_tokens, seed, stop} -> {choices: [{index, text,
//                          finish_reason, stop_reason}], usage (when the model counts)}
// A choice ends at an rStar step marker (kept in its text and named as stop_reason, as vLLM
// does with include_stop_str_in_output), at EOS or at max_tokens (finish_reason "length").
// The step markers are the only stop strings: a request asking for others is refused (400).
//
// ONNX: requests that arrive while the policy is busy wait and then run together: one
// generate call per group of equal sampling settings, so concurrent clients share decode
// batches (`batched`).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OnnxPolicy } from '../backends/onnx/policy.js';
import { UsageError } from '../errors.js';
import { stopStrings } from '../format/step.js';

export interface ServeOptions {
  /** the name /v1/models lists and requests must give */
  model: string;
  host: string;
  port: number;
}

interface Sampling {
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  seed?: number;
}

type Texts = (string[] | { refused: string })[];

/** What serves the completions: n texts per prompt, and the tokens used where it counts them. */
export interface Completer {
  complete(prompts: string[], n: number, sampling: Sampling): Promise<{ texts: Texts; promptTokens?: number; completionTokens?: number }>;
}

interface Pending {
  prompts: string[];
  n: number;
  sampling: Sampling;
  resolve: (texts: Texts) => void;
  reject: (e: unknown) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The ONNX policy as a Completer: requests that arrive while it is busy run together. */
export function batched(policy: OnnxPolicy): Completer {
  const queue: Pending[] = [];
  let busy = false;

  // Everything queued runs now, grouped by sampling settings; requests that arrive meanwhile
  // make the next round.
  const drain = async () => {
    if (busy) return;
    busy = true;
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0);
        const groups = new Map<string, Pending[]>();
        for (const p of batch) {
          const key = JSON.stringify([p.n, p.sampling]);
          groups.set(key, [...(groups.get(key) ?? []), p]);
        }
        for (const group of groups.values()) {
          try {
            const texts = await policy.complete(group.flatMap((p) => p.prompts), group[0]!.n, group[0]!.sampling);
            let at = 0;
            for (const p of group) {
              p.resolve(texts.slice(at, at + p.prompts.length));
              at += p.prompts.length;
            }
          } catch (e) {
            for (const p of group) p.reject(e);
          }
        }
      }
    } finally {
      busy = false;
    }
  };

  return {
    complete: (prompts, n, sampling) =>
      new Promise<Texts>((resolve, reject) => {
        queue.push({ prompts, n, sampling, resolve, reject });
        void drain();
      }).then((texts) => ({ texts })),
  };
}

/** Serves `model` until the returned server is closed; resolves once it listens. */
export async function serveOpenAI(model: Completer, options: ServeOptions): Promise<Server & { url: string }> {
  let completionId = 0;

  const complete = (body: Record<string, unknown>) => {
    if (body['model'] !== options.model) throw new HttpError(404, `model "${String(body['model'])}" is not served here (this server serves "${options.model}")`);
    const raw = body['prompt'];
    const prompts = typeof raw === 'string' ? [raw] : Array.isArray(raw) && raw.every((x) => typeof x === 'string') ? (raw as string[]) : undefined;
    if (!prompts || prompts.length === 0) throw new HttpError(400, '"prompt" must be a string or a non-empty list of strings');
    const n = body['n'] ?? 1;
    if (!(Number.isInteger(n) && (n as number) >= 1)) throw new HttpError(400, `"n" must be an integer >= 1 (got ${JSON.stringify(n)})`);
    const stop = body['stop'] === undefined || body['stop'] === null ? [] : typeof body['stop'] === 'string' ? [body['stop']] : body['stop'];
    const unknown = Array.isArray(stop) ? stop.filter((s) => !(stopStrings as readonly unknown[]).includes(s)) : [stop];
    if (unknown.length > 0) throw new HttpError(400, `"stop": only the step markers ${stopStrings.join(', ')} are stop strings here (got ${JSON.stringify(unknown)})`);
    const sampling: Sampling = {};
    const number = (key: string, to: keyof Sampling, integer = false) => {
      const v = body[key];
      if (v === undefined || v === null) return;
      if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) throw new HttpError(400, `"${key}" must be ${integer ? 'an integer' : 'a number'} (got ${JSON.stringify(v)})`);
      sampling[to] = v;
    };
    number('temperature', 'temperature');
    number('top_p', 'topP');
    number('max_tokens', 'maxTokens', true);
    number('seed', 'seed', true);
    return model.complete(prompts, n as number, sampling).then(({ texts, promptTokens, completionTokens }) => {
      const refused = texts.find((t): t is { refused: string } => 'refused' in t);
      if (refused) throw new HttpError(400, refused.refused);
      const choices = (texts as string[][]).flatMap((samples, p) =>
        samples.map((text, j) => {
          const stopped = stopStrings.find((s) => text.endsWith(s));
          return { index: p * (n as number) + j, text, logprobs: null, finish_reason: stopped ? 'stop' : 'length', stop_reason: stopped ?? null };
        }),
      );
      const usage = promptTokens !== undefined && completionTokens !== undefined ? { usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } } : {};
      return { id: `cmpl-${++completionId}`, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: options.model, choices, ...usage };
    });
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const fail = (e: unknown) => {
      // a sampling setting the policy refuses (e.g. a negative temperature) is the client's to fix
      const status = e instanceof HttpError ? e.status : e instanceof UsageError ? 400 : 500;
      reply(status, { error: { message: (e as Error).message, type: status === 500 ? 'server_error' : 'invalid_request_error' } });
    };
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/v1/models') return reply(200, { object: 'list', data: [{ id: options.model, object: 'model', owned_by: 'rstar' }] });
    if (req.method !== 'POST' || path !== '/v1/completions') return reply(404, { error: { message: `no route ${req.method} ${path} (this server has GET /v1/models and POST /v1/completions)`, type: 'invalid_request_error' } });
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object');
      } catch (e) {
        return fail(new HttpError(400, `the request body is not a JSON object (${(e as Error).message})`));
      }
      try {
        complete(body).then((r) => reply(200, r), fail);
      } catch (e) {
        fail(e);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return Object.assign(server, { url: `http://${options.host}:${address.port}/v1` });
}
