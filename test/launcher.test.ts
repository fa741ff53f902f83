// The CLI's launcher (src/cli/main.ts, malloc.ts): it starts the commands again with glibc's
// malloc tunables, passes their exit code and signals through.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KEEP_MALLOC_ENV, MALLOC_TUNABLES, mallocRerunEnv } from '../src/util/malloc.js';

const cli = join(resolve(fileURLToPath(new URL('.', import.meta.url)), '..'), 'dist', 'cli', 'main.js');

test('mallocRerunEnv adds the tunables on Linux once, keeps other tunables, and can be turned off', () => {
  assert.equal(mallocRerunEnv({ PATH: '/bin' }, 'linux')?.GLIBC_TUNABLES, MALLOC_TUNABLES);
  assert.equal(mallocRerunEnv({ PATH: '/bin' }, 'linux')?.PATH, '/bin');
  assert.equal(mallocRerunEnv({ GLIBC_TUNABLES: 'glibc.pthread.rseq=0' }, 'linux')?.GLIBC_TUNABLES, `glibc.pthread.rseq=0:${MALLOC_TUNABLES}`);
  // already started with them (or the user chose their own mmap settings): run as is
  assert.equal(mallocRerunEnv({ GLIBC_TUNABLES: MALLOC_TUNABLES }, 'linux'), undefined);
  assert.equal(mallocRerunEnv({ GLIBC_TUNABLES: 'glibc.malloc.mmap_max=4' }, 'linux'), undefined);
  assert.equal(mallocRerunEnv({ [KEEP_MALLOC_ENV]: '1' }, 'linux'), undefined);
  assert.equal(mallocRerunEnv({}, 'darwin'), undefined);
});

/** Runs the CLI; resolves with its exit code or signal and the milliseconds it took. */
function run(args: string[], killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; stderr: string }> {
  const t0 = Date.now();
  const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GLIBC_TUNABLES: '', [KEEP_MALLOC_ENV]: '' } });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  if (killAfterMs !== undefined) setTimeout(() => p.kill('SIGTERM'), killAfterMs);
  // 'close': also waits for whatever still holds the launcher's stderr (a command it started)
  return new Promise((res) => p.on('close', (code, signal) => res({ code, signal, ms: Date.now() - t0, stderr })));
}

test('the launcher passes the commands\' exit code through', async () => {
  const r = await run(['no-such-command']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /Unknown argument: no-such-command/);
});

test('a SIGTERM to the launcher stops the command it started, and the launcher dies of it', async () => {
  // the program would run 30 s: the launcher must pass the signal on, not wait for it
  const dir = mkdtempSync(join(tmpdir(), 'rstar-launcher-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'sleep.py'), 'import time\ntime.sleep(30)\n');
  const r = await run(['exec', '--timeout', '60', '--file', join(dir, 'sleep.py')], 1500);
  assert.equal(r.signal, 'SIGTERM', `code ${r.code} ${r.stderr}`);
  assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
});
