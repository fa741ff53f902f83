// SIMULATED model server: the simulated policy's steps, delivered at the pace of a
// continuous-batching server (vLLM, SGLang) with a prefix cache, for benchmarking how
// requests are spread over several servers (`rstar serve --policy sim`, bench/servers.ts).
//
// Tokens are characters. The server has a throughput that its requests in flight share: one
// sequence decodes at `seqTokensPerS`, and all together at most `tokensPerS` (a batch that
// outgrows the GPU slows each sequence down). A request's work is its completions' tokens
// plus `prefillCost` per prompt token that is not in the prefix cache. The cache keeps
// prompts in blocks of `blockTokens`, each keyed by its whole prefix (as vLLM's automatic
// prefix caching hashes blocks), least recently used out first past `cacheTokens`.
import { createHash } from 'node:crypto';
import type { Problem } from '../io/problems.js';
import { stepEnd } from '../format/step.js';
import { SimPolicy, type SimOptions } from './policy.js';

export interface SimServerOptions {
  /** the prompt template the clients use, with {problem} */
  template: string;
  /** all sequences together, tokens per second */
  tokensPerS: number;
  /** one sequence alone, tokens per second */
  seqTokensPerS: number;
  /** the cost of an uncached prompt token, in decode tokens */
  prefillCost: number;
  /** prefix cache size in tokens (0: no cache) */
  cacheTokens: number;
  blockTokens: number;
}

export const simServerDefaults: Omit<SimServerOptions, 'template'> = { tokensPerS: 4000, seqTokensPerS: 200, prefillCost: 0.2, cacheTokens: 200_000, blockTokens: 16 };

/** One step of a trajectory as the search shows it: up to and including its end marker. */
const stepPattern = new RegExp(`[\\s\\S]*?${stepEnd}`, 'g');

export interface SimServerFigures {
  requests: number;
  promptTokens: number;
  /** prompt tokens found in the prefix cache */
  cachedTokens: number;
  completionTokens: number;
}

interface Job {
  work: number;
  done: () => void;
}

export class SimServerModel {
  readonly options: SimServerOptions;
  private readonly policy: SimPolicy;
  private readonly questions: Map<string, Problem>;
  private readonly cache = new Map<string, true>();
  private readonly figures: SimServerFigures = { requests: 0, promptTokens: 0, cachedTokens: 0, completionTokens: 0 };
  private jobs: Job[] = [];
  private updated = performance.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(problems: readonly Problem[], options: Partial<SimServerOptions> & Pick<SimServerOptions, 'template'>, sim: Partial<SimOptions> = {}) {
    this.options = { ...simServerDefaults, ...options };
    this.policy = new SimPolicy({ ...sim, latencyMs: 0 });
    this.questions = new Map(problems.map((p) => [options.template.replaceAll('{problem}', p.problem), p]));
  }

  /** n completions of each prompt, once the simulated server has done the work; a prompt of no known problem is refused. */
  async complete(prompts: readonly string[], n: number): Promise<{ texts: (string[] | { refused: string })[]; promptTokens: number; completionTokens: number }> {
    const requests = prompts.map((prompt) => this.request(prompt, n));
    const generated = await this.policy.generate(requests.filter((r) => r !== undefined));
    const out = requests.map((r, i) => (r ? generated.shift()! : { refused: `no simulated problem starts this prompt: ${JSON.stringify(prompts[i]!.slice(0, 80))}` }));
    let work = 0;
    let promptTokens = 0;
    let completionTokens = 0;
    for (const [i, prompt] of prompts.entries()) {
      const cached = this.lookUp(prompt);
      promptTokens += prompt.length;
      this.figures.cachedTokens += cached;
      work += (prompt.length - cached) * this.options.prefillCost;
      const done = out[i]!;
      if (Array.isArray(done)) for (const t of done) completionTokens += t.length;
    }
    work += completionTokens;
    this.figures.requests++;
    this.figures.promptTokens += promptTokens;
    this.figures.completionTokens += completionTokens;
    await new Promise<void>((done) => this.admit({ work, done }));
    return { texts: out, promptTokens, completionTokens };
  }

  stats(): SimServerFigures {
    return { ...this.figures };
  }

  /** The problem and steps a prompt continues, as the simulated policy reads them. */
  private request(prompt: string, n: number): { problem: Problem; steps: string[]; n: number } | undefined {
    for (let at = prompt.indexOf('\n'); at >= 0; at = prompt.indexOf('\n', at + 1)) {
      const problem = this.questions.get(prompt.slice(0, at + 1));
      if (problem) return { problem, steps: prompt.slice(at + 1).match(stepPattern) ?? [], n };
    }
    return undefined;
  }

  /** Prompt tokens found in the cache (whole leading blocks); the prompt's blocks are then the most recently used. */
  private lookUp(prompt: string): number {
    const { blockTokens, cacheTokens } = this.options;
    if (cacheTokens <= 0) return 0;
    let key = createHash('sha1');
    let hit = 0;
    let missed = false;
    for (let at = 0; at + blockTokens <= prompt.length; at += blockTokens) {
      key = key.update(prompt.slice(at, at + blockTokens));
      const id = key.copy().digest('base64');
      if (this.cache.has(id)) {
        this.cache.delete(id); // re-inserted below: most recently used
        if (!missed) hit += blockTokens;
      } else {
        missed = true;
      }
      this.cache.set(id, true);
    }
    const most = Math.floor(cacheTokens / blockTokens);
    for (const id of this.cache.keys()) {
      if (this.cache.size <= most) break;
      this.cache.delete(id);
    }
    return hit;
  }

  // Processor sharing: the jobs in flight split the rate equally. On every arrival and
  // completion the work done since the last event is taken off each job, and a timer is set
  // for the next job to finish.
  private rate(): number {
    return Math.min(this.options.tokensPerS, this.options.seqTokensPerS * this.jobs.length);
  }

  private advance(): void {
    const now = performance.now();
    if (this.jobs.length > 0) {
      const each = (this.rate() * (now - this.updated)) / 1000 / this.jobs.length;
      for (const j of this.jobs) j.work -= each;
    }
    this.updated = now;
  }

  private admit(job: Job): void {
    this.advance();
    this.jobs.push(job);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const finished = this.jobs.filter((j) => j.work <= 1e-6);
    this.jobs = this.jobs.filter((j) => j.work > 1e-6);
    for (const j of finished) j.done();
    if (this.jobs.length === 0) return;
    const least = Math.min(...this.jobs.map((j) => j.work));
    const ms = (least * this.jobs.length * 1000) / this.rate();
    this.timer = setTimeout(() => {
      this.advance();
      this.schedule();
    }, ms);
  }
}
