// The package as a user gets it: scripts/pack.sh packs the main package and the platform
// package (rstar-linux-x64-gnu, the prebuilt addon), the tarballs are installed into empty temp
// dirs, and the installed CLI runs `rstar solve` and `rstar synth` on the package's own
// examples, models and executor:
// - the prebuilt, on a PATH without cmake (or any compiler);
// - the source build: cmake on PATH, main package only (the install step builds the addon);
// - neither: the install step and the CLI say what to install.
// Slow (a few minutes: two installs, an addon build, two pack builds), so it runs only with
// RSTAR_PACKAGE_TEST=1 (.ci/run sets it). It packs dist/ as `npm test`'s pretest built it: run
// `npm run build:ts` first when running this file alone. Dependencies come from npm's cache or
// the registry (--prefer-offline); onnxruntime-node's download step is skipped (offline).
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const skip = process.env['RSTAR_PACKAGE_TEST'] === '1' ? false : 'set RSTAR_PACKAGE_TEST=1 to pack and install the package (a few minutes; .ci/run does)';
const platformPackage = 'rstar-linux-x64-gnu';
const question = 'Tom has 5 apples and buys 7 more. He gives 3 to Ann. How many apples does he have?';

const root = mkdtempSync(join(tmpdir(), 'rstar-package-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The environment of every child: npm's and node's own settings from `npm test` left out (a nested npm would install into the repo). */
function env(path: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE_OPTIONS') e[k] = v;
  // onnxruntime-node's postinstall downloads its CUDA provider from outside
  return { ...e, PATH: path, ONNXRUNTIME_NODE_INSTALL: 'skip' };
}

function run(cmd: string, args: string[], cwd: string, path: string, timeoutS = 300): SpawnSyncReturns<string> {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd, env: env(path), encoding: 'utf8', timeout: timeoutS * 1000 });
  console.log(`package test: ${((Date.now() - t0) / 1000).toFixed(1)} s: ${cmd} ${args.join(' ').slice(0, 100)}`);
  assert.equal(r.error, undefined, `${cmd} ${args.join(' ')} did not run: ${String(r.error)}`);
  return r;
}

function assertExit(r: SpawnSyncReturns<string>, code: number): void {
  assert.equal(r.status, code, `exit ${r.status} (signal ${r.signal}), expected ${code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
}

/** A PATH dir with only node, npm, npx, a shell and python3 (the step executor's): no cmake, no compiler. */
function barePath(): string {
  const dir = join(root, 'bare-bin');
  mkdirSync(dir);
  const which = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  for (const name of ['node', 'npm', 'npx', 'sh', 'bash', 'env']) symlinkSync(realpathSync(which(name)), join(dir, name));
  // the interpreter itself, not a pyenv shim (which needs pyenv on PATH)
  const python = process.env['RSTAR_PYTHON'] ?? spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
  symlinkSync(python, join(dir, 'python3'));
  for (const tool of ['cmake', 'c++', 'g++', 'clang++', 'nvcc']) {
    assert.notEqual(spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: dir } }).status, 0, `${tool} is on the bare PATH`);
  }
  return dir;
}

describe('the packed package, installed from its tarballs', { skip }, () => {
  let main = '';
  let platform = '';
  const fullPath = process.env['PATH'] ?? '';
  let bare = '';

  before(() => {
    bare = barePath();
    const out = join(root, 'pack');
    // Without nvcc (CI), a platform package without the CUDA kernels still tests the packaging.
    const hasNvcc = spawnSync('sh', ['-c', 'command -v nvcc']).status === 0;
    const r = spawnSync(join(repoRoot, 'scripts', 'pack.sh'), [out], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...env(fullPath), RSTAR_CUDA: hasNvcc ? 'ON' : 'AUTO', npm_config_ignore_scripts: 'true' },
      timeout: 600_000,
    });
    assertExit(r, 0);
    const tgz = readdirSync(out);
    main = join(out, tgz.find((f) => /^rstar-\d/.test(f))!);
    platform = join(out, tgz.find((f) => f.startsWith(`${platformPackage}-`))!);
  });

  /** `rstar solve` and `rstar synth` in an install dir; returns cudaStatus() there. */
  function runsThere(dir: string, path: string): { binary: { kind: string; path: string }; reason: string } {
    const bin = join(dir, 'node_modules', '.bin', 'rstar');
    const solve = run(bin, ['solve', question, '--greedy'], dir, path, 120);
    assertExit(solve, 0);
    assert.match(solve.stdout, /answer: 9\b/);
    const problems = join(dir, 'node_modules', 'rstar', 'examples', 'problems.jsonl');
    const synth = run(bin, ['synth', '--problems', problems, '--out', join(dir, 'run'), '--rollouts', '2', '--n', '2', '--limit', '2'], dir, path, 180);
    assertExit(synth, 0);
    assert.equal(readFileSync(join(dir, 'run', 'trees.jsonl'), 'utf8').trim().split('\n').length, 2);
    assert.ok(existsSync(join(dir, 'run', 'stats.json')));
    const status = run('node', ['--input-type=module', '-e', "const m = await import('rstar/dist/engine/native.js'); console.log(JSON.stringify(m.cudaStatus()))"], dir, path, 60);
    assertExit(status, 0);
    return JSON.parse(status.stdout);
  }

  test('with the platform package, on a PATH without cmake', () => {
    const dir = join(root, 'prebuilt');
    mkdirSync(dir);
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', main, platform], dir, bare, 600);
    assertExit(install, 0);
    assert.match(install.stdout, new RegExp(`using the prebuilt addon ${platformPackage}`));
    assert.ok(!existsSync(join(dir, 'node_modules', 'rstar', 'build')), 'the install step built the addon');
    const status = runsThere(dir, bare);
    assert.equal(status.binary.kind, 'prebuilt');
    assert.equal(status.binary.path, join(dir, 'node_modules', platformPackage, 'rstar.linux-x64-gnu.node'));
    if (spawnSync('sh', ['-c', 'command -v nvcc']).status === 0) assert.doesNotMatch(status.reason, /no CUDA kernels/); // packed with them

    // Neither the prebuilt nor cmake: the install step fails and the CLI refuses, both saying what to install.
    renameSync(join(dir, 'node_modules', platformPackage), join(dir, 'aside'));
    const again = run('node', ['scripts/install.mjs'], join(dir, 'node_modules', 'rstar'), bare, 60);
    assertExit(again, 1);
    assert.match(again.stderr, new RegExp(`npm install ${platformPackage}.*CMake >= 3\\.20 and a C\\+\\+20 compiler.*npm rebuild rstar`));
    const solve = run(join(dir, 'node_modules', '.bin', 'rstar'), ['solve', question, '--greedy'], dir, bare, 60);
    assertExit(solve, 2);
    assert.match(solve.stderr, new RegExp(`the native addon is missing.*npm install ${platformPackage}.*npm rebuild rstar`));
    assert.doesNotMatch(solve.stderr, /\n\s+at /, 'printed with a stack, as a bug');
  });

  test('without the platform package, built from source with cmake on PATH', () => {
    const dir = join(root, 'source');
    mkdirSync(dir);
    // the optional dependency is not on the registry: npm skips it
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', main], dir, fullPath, 600);
    assertExit(install, 0);
    assert.ok(!existsSync(join(dir, 'node_modules', platformPackage)));
    const built = join(dir, 'node_modules', 'rstar', 'build', 'Release', 'rstar.node');
    assert.ok(existsSync(built), `the install step did not build ${built}`);
    const status = runsThere(dir, fullPath);
    assert.deepEqual(status.binary, { kind: 'source build', path: built });
  });
});
