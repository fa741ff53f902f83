// Several model servers serving one model, behind one caller: which server takes a request,
// what happens when one fails, and each server's figures.
//
// Routing keeps a tree on one server, so that server's prefix cache (vLLM's automatic prefix
// caching, SGLang's RadixAttention) holds the tree's shared prefix: the question and the
// steps so far. A tree is placed on the server with the fewest requests in flight and moves
// only when its server is down or overloaded. "Overloaded" is SGLang router's rule for
// leaving cache affinity: the server has more than `absThreshold` requests in flight beyond
// the least loaded one, and more than `relThreshold` times as many.
//
// A server that fails (no connection, a timeout, 429 or a 5xx) is taken out; a background
// probe (GET URL/models, exponential backoff) brings it back. The failed call is sent to
// another server; its result was never used, so nothing enters a tree twice. When every
// server is down, calls wait, saying so once, and fail after `waitMs` with each server's
// last error. A fleet none of whose servers ever answered fails at once instead: that is a
// wrong URL or a server not started, for the user to fix. A call that fails on 2N + 1
// servers in a row (N servers) fails the search: the request itself breaks them.
import OpenAI from 'openai';
import { UsageError } from '../../errors.js';

export interface FleetOptions {
  /** what the calls are for, in messages: "policy openai" */
  who: string;
  /** affinity: a tree stays on its server (above); round-robin: each call goes to the next server up (the baseline of bench/servers.ts) */
  routing: 'affinity' | 'round-robin';
  /** how long calls wait while every server is down before failing */
  waitMs: number;
  /** leave a tree's server when it has this many more requests in flight than the least loaded... */
  absThreshold: number;
  /** ...and this many times as many */
  relThreshold: number;
  /** first and longest wait between probes of a server that is down */
  probeMinMs: number;
  probeMaxMs: number;
}

export const fleetDefaults: Omit<FleetOptions, 'who'> = { routing: 'affinity', waitMs: 120_000, absThreshold: 8, relThreshold: 1.5, probeMinMs: 250, probeMaxMs: 10_000 };

/** One server's figures, for stats.json. */
export interface ServerFigures {
  url: string;
  up: boolean;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  latencyMs: { p50: number; p99: number } | null;
  /** trees moved off this server, and why */
  movedOff: { down: number; overloaded: number };
}

/** Latencies in buckets 2% apart, for percentiles without keeping every sample. */
class Histogram {
  private readonly counts = new Map<number, number>();
  private total = 0;
  add(ms: number): void {
    const b = Math.round(Math.log(Math.max(ms, 0.01)) / Math.log(1.02));
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.total++;
  }
  quantile(q: number): number | undefined {
    if (this.total === 0) return undefined;
    const rank = q * (this.total - 1);
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b)!;
      if (seen > rank) return Math.round(1.02 ** b * 100) / 100;
    }
    return undefined;
  }
}

/** A server as the fleet sees it; `client` is the caller's to use in `Fleet.call`. */
export interface Server {
  readonly url: string;
  readonly client: OpenAI;
}

class Member implements Server {
  inFlight = 0;
  up = true;
  answered = false;
  lastError = '';
  requests = 0;
  errors = 0;
  promptTokens = 0;
  completionTokens = 0;
  readonly latency = new Histogram();
  readonly movedOff = { down: 0, overloaded: 0 };
  probing = false;

  constructor(
    readonly url: string,
    readonly client: OpenAI,
  ) {}
}

/** Whether a failed call is the server's (take it out, send the call elsewhere) rather than the request's. */
export function isServerFailure(e: unknown): boolean {
  if (e instanceof OpenAI.APIConnectionError) return true; // refused, reset, timed out
  if (e instanceof OpenAI.APIError) return e.status === undefined || e.status === 408 || e.status === 429 || e.status >= 500;
  return false;
}

/** The reason to show for a failure: the system error code of a dropped connection, else the message. */
export function failureReason(e: unknown): string {
  if (e instanceof OpenAI.APIConnectionTimeoutError) return 'timed out';
  if (e instanceof OpenAI.APIConnectionError) {
    let why: string = e.message;
    for (let c: unknown = e.cause; c instanceof Error; c = c.cause) why = (c as NodeJS.ErrnoException).code ?? c.message;
    return why;
  }
  if (e instanceof OpenAI.APIError) return `${e.status ?? 'error'}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** Parses `URL1,URL2,...` (each http or https) into distinct URLs. */
export function serverUrls(list: string, who: string): string[] {
  const urls = list.split(',').map((u) => u.trim().replace(/\/+$/, ''));
  for (const u of urls) if (!/^https?:\/\/\S+$/.test(u)) throw new UsageError(`${who}: "${u}" is not an http(s) URL (servers are given as URL1,URL2,...)`);
  if (new Set(urls).size !== urls.length) throw new UsageError(`${who}: a server is listed twice in ${list}`);
  return urls;
}

export class Fleet {
  readonly options: FleetOptions;
  private readonly members: Member[];
  /** tree (affinity key) -> its server */
  private readonly home = new Map<string, Member>();
  /** calls waiting for a server to come back */
  private readonly waiting: (() => void)[] = [];
  private allDownSince: number | undefined;
  private closed = false;
  private turn = 0;

  constructor(
    servers: { url: string; client: OpenAI }[],
    options: Partial<FleetOptions> & Pick<FleetOptions, 'who'>,
    /** answers when the server is up again (probes); by default GET {url}/models */
    private readonly probe: (s: Server) => Promise<unknown> = (s) => s.client.models.list(),
  ) {
    this.options = { ...fleetDefaults, ...options };
    if (servers.length === 0) throw new UsageError(`${this.options.who}: no servers`);
    this.members = servers.map((s) => new Member(s.url, s.client));
  }

  get size(): number {
    return this.members.length;
  }

  /**
   * Runs `f` on the tree `key`'s server, or on another when that one fails. `f` returns its
   * result and, where the response says them, the tokens it used.
   */
  async call<T>(key: string, f: (s: Server) => Promise<{ result: T; promptTokens?: number; completionTokens?: number }>): Promise<T> {
    // a request that fails on every server it is sent to (one that crashes them) is not sent forever
    for (let attempt = 1; ; attempt++) {
      const m = this.pick(key) ?? (await this.place(key));
      m.inFlight++;
      m.requests++;
      const t0 = performance.now();
      try {
        const r = await f(m);
        m.latency.add(performance.now() - t0);
        m.answered = true;
        m.promptTokens += r.promptTokens ?? 0;
        m.completionTokens += r.completionTokens ?? 0;
        return r.result;
      } catch (e) {
        m.errors++;
        if (!isServerFailure(e)) throw e;
        m.lastError = failureReason(e);
        // a fleet that never got an answer is misconfigured: say so now rather than wait
        const misconfigured = !this.members.some((x) => x.answered) && this.members.every((x) => x === m || !x.up);
        this.takeOut(m);
        if (misconfigured || attempt >= 2 * this.members.length + 1) throw e;
      } finally {
        m.inFlight--;
      }
    }
  }

  /** The tree's server, once one is up: placing and counting the call happen in one turn, so calls that start together see each other's load. */
  private async place(key: string): Promise<Member> {
    for (;;) {
      if (this.closed) throw new Error(`${this.options.who}: closed`);
      const m = this.pick(key);
      if (m) return m;
      await this.waitForServer();
    }
  }

  /** The tree's home while that is up and not overloaded, else the least loaded server up. */
  private pick(key: string): Member | undefined {
    const up = this.members.filter((m) => m.up);
    if (up.length === 0) return undefined;
    if (this.options.routing === 'round-robin') return up[this.turn++ % up.length]!;
    const least = up.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const home = this.home.get(key);
    if (home?.up && !this.overloaded(home, least)) return home;
    if (home && home !== least) home.movedOff[home.up ? 'overloaded' : 'down']++;
    this.home.set(key, least);
    return least;
  }

  private overloaded(m: Member, least: Member): boolean {
    const { absThreshold, relThreshold } = this.options;
    return m.inFlight - least.inFlight > absThreshold && m.inFlight > relThreshold * least.inFlight;
  }

  private async waitForServer(): Promise<void> {
    const { who, waitMs } = this.options;
    const since = (this.allDownSince ??= Date.now());
    if (this.waiting.length === 0) console.error(`rstar: ${who}: all ${this.members.length} servers are down (${this.describe()}); waiting up to ${Math.round(waitMs / 1000)} s for one to come back`);
    const left = since + waitMs - Date.now();
    const back = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, left));
      this.waiting.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!back) throw new Error(`${who}: every server was down for ${Math.round(waitMs / 1000)} s: ${this.describe()}`);
  }

  private describe(): string {
    return this.members.map((m) => `${m.url}: ${m.up ? 'up' : m.lastError || 'down'}`).join('; ');
  }

  private takeOut(m: Member): void {
    if (!m.up) return;
    m.up = false;
    if (this.members.some((x) => x.up)) console.error(`rstar: ${this.options.who}: ${m.url} failed (${m.lastError}); its trees go to the other servers until it answers again`);
    void this.probeUntilBack(m);
  }

  private async probeUntilBack(m: Member): Promise<void> {
    if (m.probing) return;
    m.probing = true;
    let delay = this.options.probeMinMs;
    while (!this.closed) {
      await new Promise((r) => setTimeout(r, delay).unref());
      if (this.closed) break;
      try {
        await this.probe(m);
        m.up = true;
        if (this.allDownSince !== undefined) console.error(`rstar: ${this.options.who}: ${m.url} is back`);
        this.allDownSince = undefined;
        for (const w of this.waiting.splice(0)) w();
        break;
      } catch (e) {
        m.lastError = failureReason(e);
        delay = Math.min(delay * 2, this.options.probeMaxMs);
      }
    }
    m.probing = false;
  }

  /** The tree is done: its placement can go. */
  forget(key: string): void {
    this.home.delete(key);
  }

  figures(): ServerFigures[] {
    return this.members.map((m) => {
      const p50 = m.latency.quantile(0.5);
      const p99 = m.latency.quantile(0.99);
      return {
        url: m.url,
        up: m.up,
        requests: m.requests,
        errors: m.errors,
        promptTokens: m.promptTokens,
        completionTokens: m.completionTokens,
        latencyMs: p50 !== undefined && p99 !== undefined ? { p50, p99 } : null,
        movedOff: { ...m.movedOff },
      };
    });
  }

  /** Stops the probes; calls still waiting fail. */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w();
  }
}
