// Synthesis on a BullMQ queue with 1, 2 and 4 local workers: rollouts/s and the scaling
// against one worker, in one run. Run: npm run bench:queue [-- --problems 256 ...]
//
// A redis-server is started on a free port (apt-get install redis-server). Each worker is an
// `rstar worker` process with the sim policy at a model server's latency (--sim-latency-ms
// per policy call), so a worker is bound by the latency it waits on, as a worker in front of
// a model server is, not by this machine's cores; the submitter is `rstar synth --queue`.
// Each worker count gets a fresh queue and output directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    problems: { type: 'string', default: '192' },
    rollouts: { type: 'string', default: '8' },
    'latency-ms': { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '16' },
    workers: { type: 'string', default: '1,2,4' },
  },
});
if (spawnSync('redis-server', ['--version']).error) {
  console.error('bench:queue needs redis-server: apt-get install redis-server');
  process.exit(2);
}
const cli = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'rstar-bench-queue-'));
const problems = join(root, 'problems.jsonl');
const count = Number(values.problems);
writeFileSync(problems, Array.from({ length: count }, (_, i) => JSON.stringify({ id: `p${i}`, problem: `problem ${i}`, answer: String(i % 7) })).join('\n') + '\n');

const port = await new Promise<number>((done) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as AddressInfo).port;
    s.close(() => done(p));
  });
});
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
for (let i = 0; i < 50 && spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 100));

const run = (args: string[]): ChildProcess & { done: Promise<number | null> } => {
  const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  return Object.assign(p, { done: new Promise<number | null>((r) => p.on('close', r)) });
};

console.log(`${count} problems, sim policy at ${values['latency-ms']} ms a call, ${values.rollouts} rollouts, ${values.concurrency} trees in flight per worker`);
let base: number | undefined;
try {
  for (const k of values.workers.split(',').map(Number)) {
    const name = `bench-${k}`;
    const url = `redis://127.0.0.1:${port}/${name}`;
    const out = join(root, name);
    const workers = Array.from({ length: k }, () => run(['worker', '--queue', url, '--concurrency', values.concurrency, '--sim-latency-ms', values['latency-ms'], '--no-progress']));
    const t0 = performance.now();
    const code = await run(['synth', '--queue', url, '--policy', 'sim', '--ppm', 'sim', '--problems', problems, '--out', out, '--rollouts', values.rollouts, '--no-progress']).done;
    const seconds = (performance.now() - t0) / 1000;
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.done));
    if (code !== 0) throw new Error(`the submitter exited ${code}`);
    const rollouts = readFileSync(join(out, 'trees.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .reduce((a, l) => a + (JSON.parse(l) as { rollouts: number }).rollouts, 0);
    const rate = rollouts / seconds;
    base ??= rate;
    console.log(`${String(k).padStart(2)} workers  ${seconds.toFixed(1).padStart(6)} s  ${rate.toFixed(1).padStart(7)} rollouts/s  ${(rate / base).toFixed(2)}x one worker`);
  }
} finally {
  redis.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
