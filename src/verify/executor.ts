// One persistent Python interpreter (src/verify/python/executor.py) and its line protocol.
// The pool (executor-pool.ts) owns one per lane; its I/O is asynchronous, so they all live
// on the main thread.
// The interpreter may die or hang (os-level tricks, a C call that ignores signals): a
// watchdog kills it past each program's timeout plus a grace period, the program in
// flight is reported as a timeout or crash, and a fresh interpreter takes the rest.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type ExecErrorKind =
  | 'exception'
  | 'timeout'
  | 'memory'
  | 'cpu_limit'
  | 'output_limit'
  | 'recursion'
  | 'sandbox'
  | 'exit'
  | 'crash';

export interface ExecRequest {
  /** the whole program: run in a fresh namespace (cumulative mode, and incremental's fallback) */
  program: string;
  timeoutS?: number;
  /** incremental mode: run `step` on a copy of node `parent`'s saved state, save as `node` */
  tree?: string;
  node?: string;
  parent?: string | null;
  step?: string;
}

export interface ExecResult {
  ok: boolean;
  /** stdout and stderr together, head and tail kept when long */
  stdout: string;
  error?: ExecErrorKind;
  /** e.g. "ZeroDivisionError: division by zero (line 3)" */
  message?: string;
  /** time in the interpreter */
  ms: number;
  /** incremental mode: the parent's saved state was used (else the program ran whole) */
  reused?: boolean;
}

export interface ExecutorOptions {
  /** the Python 3 to run (default: $RSTAR_PYTHON, else python3 on PATH) */
  python: string;
  /** inprocess: fresh namespaces in one interpreter (fast); fork: a child process per run */
  isolation: 'inprocess' | 'fork';
  /** namespaces: run the interpreter in new user + network namespaces (unshare); auto: when they work */
  sandbox: 'auto' | 'namespaces' | 'none';
  timeoutS: number;
  memoryMb: number;
  /** CPU seconds per run (fork isolation; in-process runs are bounded by timeoutS) */
  cpuS: number;
  fileMb: number;
  /** characters of output kept from the head and from the tail */
  keepChars: number;
  /** a run printing more than this fails with output_limit */
  outputChars: number;
  /** preload numpy and sympy when installed, so programs import them for free */
  preimport: boolean;
  /** incremental mode: saved states per interpreter, least recently used dropped first */
  maxSnapshots: number;
  /** a directory of the interpreter's own; programs may write only there */
  scratch: string;
}

export const executorDefaults: Omit<ExecutorOptions, 'scratch'> = {
  python: process.env['RSTAR_PYTHON'] ?? 'python3',
  isolation: 'inprocess',
  sandbox: 'auto',
  timeoutS: 5,
  memoryMb: 1024,
  cpuS: 10,
  fileMb: 16,
  keepChars: 4000,
  outputChars: 1_000_000,
  preimport: true,
  maxSnapshots: 2048,
};

// From src/verify or dist/verify alike (tsc does not copy the .py file).
const script = fileURLToPath(new URL('../../src/verify/python/executor.py', import.meta.url));
/** Past a program's own timeout, how long the interpreter may take before it is killed. */
const graceMs = 2000;
const startTimeoutMs = 60_000;
/** Far above any honest reply: output head and tail and a message, each keepChars at most, JSON-escaped. */
const maxLineChars = (keepChars: number) => 24 * keepChars + 2 ** 20;

const interpreters = new Map<string, string>();
/**
 * The interpreter's real path, asked of it with this process's environment: the programs
 * run with an empty one, where a PATH lookup or a pyenv shim would find another Python.
 */
export function resolvePython(python: string): string {
  let path = interpreters.get(python);
  if (path === undefined) {
    const r = spawnSync(python, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', timeout: 30_000 });
    if (r.error || r.status !== 0 || !r.stdout.trim()) {
      throw new Error(`python executor: cannot run ${python} (${r.error?.message || r.stderr.trim() || `exit status ${r.status}`}); set RSTAR_PYTHON or --python`);
    }
    path = r.stdout.trim();
    interpreters.set(python, path);
  }
  return path;
}

let namespacesWork: boolean | undefined;
/** Whether `unshare --user --map-root-user --net` runs here (it needs unprivileged user namespaces). */
export function namespacesAvailable(): boolean {
  namespacesWork ??= spawnSync('unshare', ['--user', '--map-root-user', '--net', 'true'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  return namespacesWork;
}

interface Pending {
  request: ExecRequest;
  resolve: (r: ExecResult) => void;
}

/** A request sent to the interpreter, whose reply is awaited. */
interface InFlight extends Pending {
  /** random, so that no program can name another request's reply */
  id: string;
  since: number;
}

const errorKinds: ReadonlySet<string> = new Set<ExecErrorKind>(['exception', 'timeout', 'memory', 'cpu_limit', 'output_limit', 'recursion', 'sandbox', 'exit', 'crash']);

/** The reply's result when it has the shape executor.py writes, else undefined. */
function checkedResult(reply: Record<string, unknown>): ExecResult | undefined {
  const { id: _id, ok, stdout, error, message, ms, reused } = reply;
  if (typeof ok !== 'boolean' || typeof stdout !== 'string' || typeof ms !== 'number') return undefined;
  if (!ok && !(typeof error === 'string' && errorKinds.has(error) && typeof message === 'string')) return undefined;
  return { ok, stdout, ms, ...(ok ? {} : { error: error as ExecErrorKind, message: message as string }), ...(typeof reused === 'boolean' ? { reused } : {}) };
}

/**
 * One interpreter. It is sent one request at a time, the next only once the reply to the
 * one before has come, each under a fresh random id: a program that reaches the protocol can
 * at most answer for itself. Anything else on the line (an unknown id, a second reply, a
 * malformed line, a reply while idle) kills the interpreter, fails the run in flight as
 * `sandbox`, and a fresh interpreter takes the rest.
 */
export class PythonProcess {
  private child!: ChildProcessWithoutNullStreams;
  private buffer = '';
  private stderrTail = '';
  /** requests (and drops) not sent yet, in order */
  private readonly queue: (Pending | { drop: string })[] = [];
  private inFlight: InFlight | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private ready!: Promise<void>;
  private started = false;
  private closed = false;
  /** interpreters started, the first included */
  starts = 0;
  /** what the interpreter said at start: Python version, preloaded modules, isolation */
  hello: Record<string, unknown> = {};
  readonly namespaces: boolean;

  constructor(readonly options: ExecutorOptions) {
    if (options.sandbox === 'namespaces' && !namespacesAvailable()) {
      throw new Error('sandbox namespaces: `unshare --user --map-root-user --net` does not work on this machine');
    }
    this.namespaces = options.sandbox !== 'none' && namespacesAvailable();
    mkdirSync(options.scratch, { recursive: true });
    this.start();
  }

  /** Resolves once the interpreter has said it is ready; rejects with its stderr if it cannot start. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  private start(): void {
    this.starts++;
    this.started = false;
    const o = this.options;
    const config = JSON.stringify({
      scratch: o.scratch,
      isolation: o.isolation,
      preimport_optional: o.preimport,
      max_snapshots: o.maxSnapshots,
      parent_pid: process.pid,
      limits: {
        timeout_s: o.timeoutS,
        memory_mb: o.memoryMb,
        cpu_s: o.cpuS,
        file_mb: o.fileMb,
        keep_chars: o.keepChars,
        output_chars: o.outputChars,
      },
    });
    const argv = [resolvePython(o.python), script, config];
    const [command, ...args] = this.namespaces ? ['unshare', '--user', '--map-root-user', '--net', '--', ...argv] : argv;
    // Nothing of this process's environment reaches the programs.
    const env = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' };
    const child = spawn(command!, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.buffer = '';
    this.stderrTail = '';
    let hello: (() => void) | undefined;
    let fail: ((e: Error) => void) | undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      hello = resolve;
      fail = reject;
    });
    this.ready.catch(() => {}); // observed by whenReady() or the next run()
    const startTimer = setTimeout(() => {
      fail!(new Error(`python executor: no answer within ${startTimeoutMs / 1000} s of starting ${o.python}`));
      child.kill('SIGKILL');
    }, startTimeoutMs);
    // A dead interpreter's pipe fails writes (EPIPE): its 'exit' is what we act on.
    child.stdin.on('error', () => {});
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-4000);
    });
    child.stdout.on('data', (s: string) => {
      if (child !== this.child) return;
      this.buffer += s;
      if (this.buffer.length > maxLineChars(o.keepChars) && !this.buffer.includes('\n')) {
        this.restart('sandbox', 'sandbox: the protocol was broken (a line longer than any reply); the interpreter was replaced');
        return;
      }
      let nl: number;
      while (child === this.child && (nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        let reply: Record<string, unknown> | undefined;
        try {
          const value: unknown = JSON.parse(line);
          if (typeof value === 'object' && value !== null && !Array.isArray(value)) reply = value as Record<string, unknown>;
        } catch {
          // reported below
        }
        if (!this.started) {
          if (reply?.['ready'] !== true) {
            fail!(new Error(`python executor: the interpreter's first line is not its hello: ${line.slice(0, 200)}`));
            child.kill('SIGKILL');
            return;
          }
          clearTimeout(startTimer);
          this.started = true;
          this.hello = reply;
          hello!();
          this.pump();
          continue;
        }
        const head = this.inFlight;
        const result = reply && head && reply['id'] === head.id ? checkedResult(reply) : undefined;
        if (result === undefined) {
          const what = !reply ? 'a malformed line' : !head ? 'a line while no run was in flight' : reply['id'] !== head.id ? 'a reply for another id' : 'a malformed reply';
          this.restart('sandbox', `sandbox: the protocol was broken (${what}: ${line.slice(0, 120)}); the interpreter was replaced`);
          return;
        }
        this.inFlight = undefined;
        clearTimeout(this.watchdog);
        head!.resolve(result);
        this.pump();
      }
    });
    child.on('error', (e) => {
      clearTimeout(startTimer);
      fail!(new Error(`python executor: cannot run ${o.python}: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(startTimer);
      if (child !== this.child || this.closed) return;
      const why = `the interpreter exited (${signal ?? `status ${code}`})${this.stderrTail ? `: ${this.stderrTail.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
      fail!(new Error(`python executor: ${why}`));
      // One that never started would only die again: its callers get the error instead.
      if (this.started) this.restart('crash', why);
      else this.failAll(`python executor: ${why}`);
    });
  }

  /** Runs the requests in order; one result each, never a rejection for what a program does. */
  async run(requests: ExecRequest[]): Promise<ExecResult[]> {
    await this.ready;
    return Promise.all(
      requests.map(
        (request) =>
          new Promise<ExecResult>((resolve) => {
            this.queue.push({ request, resolve });
            this.pump();
          }),
      ),
    );
  }

  /** Forgets a tree's saved states (incremental mode). */
  drop(tree: string): void {
    if (this.closed) return;
    this.queue.push({ drop: tree });
    this.pump();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.watchdog);
    this.child.stdin.end();
    this.child.kill('SIGKILL');
    this.failAll('python executor: closed');
  }

  /** Sends what is queued up to the next request, if the interpreter is idle. */
  private pump(): void {
    if (!this.started || this.closed) return;
    while (this.inFlight === undefined && this.queue.length > 0) {
      const next = this.queue.shift()!;
      if ('drop' in next) {
        this.child.stdin.write(`${JSON.stringify({ drop: next.drop })}\n`);
        continue;
      }
      const r = next.request;
      const id = randomBytes(16).toString('hex');
      this.inFlight = { ...next, id, since: Date.now() };
      const line: Record<string, unknown> = { id, program: r.program, timeout: r.timeoutS ?? this.options.timeoutS };
      if (r.node !== undefined) Object.assign(line, { tree: r.tree, node: r.node, parent: r.parent ?? null, step: r.step ?? r.program });
      this.child.stdin.write(`${JSON.stringify(line)}\n`);
      this.arm();
    }
  }

  /** Watches the run in flight. */
  private arm(): void {
    clearTimeout(this.watchdog);
    const head = this.inFlight;
    if (!head) return;
    const seconds = head.request.timeoutS ?? this.options.timeoutS;
    this.watchdog = setTimeout(
      () => this.restart('timeout', `timed out after ${seconds} s (the interpreter did not stop it and was restarted)`),
      Math.max(0, head.since + seconds * 1000 + graceMs - Date.now()),
    );
  }

  /** Fails the run in flight, starts a fresh interpreter, and sends it the rest. */
  private restart(kind: ExecErrorKind, message: string): void {
    clearTimeout(this.watchdog);
    const old = this.child;
    const head = this.inFlight;
    this.inFlight = undefined;
    old.removeAllListeners('exit');
    old.stdout.removeAllListeners('data');
    old.kill('SIGKILL');
    if (this.closed) return;
    head?.resolve({ ok: false, stdout: '', error: kind, message, ms: 0 });
    this.start();
    // the queue waits for the new interpreter's hello (pump); if it cannot start, it fails
    this.ready.catch((e: Error) => this.failAll(e.message));
  }

  private failAll(message: string): void {
    const waiting = [...(this.inFlight ? [this.inFlight] : []), ...this.queue.splice(0)];
    this.inFlight = undefined;
    for (const p of waiting) if ('resolve' in p) p.resolve({ ok: false, stdout: '', error: 'crash', message, ms: 0 });
  }
}
