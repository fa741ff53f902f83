// The sandboxed Python executor: results and their classification, fresh namespaces with
// nothing leaking between runs, limits, a hostile corpus after which the pool still
// works, incremental mode giving the same outputs as cumulative mode, and the verifier.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ExecResult } from '../src/verify/executor.js';
import { pythonSkip } from './python-skip.js';
import { ExecutorPool } from '../src/verify/executor-pool.js';
import { PythonVerifier } from '../src/verify/python-verifier.js';
import { blockProgram, parseStep } from '../src/format/step.js';


describe('python executor', { skip: pythonSkip }, () => {
  let pool: ExecutorPool;
  let preimported: string[] = [];
  before(async () => {
    // a secret in this process's environment that no program may see
    process.env['RSTAR_TEST_SECRET'] = 'hunter2';
    pool = new ExecutorPool({ workers: 2, timeoutS: 2, memoryMb: 256, outputChars: 200_000, keepChars: 1000 });
    preimported = (await pool.hello())[0]!['preimported'] as string[];
  });
  after(() => pool.close());

  const run = async (program: string, timeoutS?: number): Promise<ExecResult> => (await pool.execute([{ program, ...(timeoutS ? { timeoutS } : {}) }]))[0]!;

  test('stdout as Python prints it; errors are what the program raised, with the line', async () => {
    const ok = await run('x = 0.1 + 0.2\nprint(x, 1/3, 10**20, 2**0.5)\nprint([1.5, "a"])');
    assert.deepEqual([ok.ok, ok.stdout], [true, '0.30000000000000004 0.3333333333333333 100000000000000000000 1.4142135623730951\n[1.5, \'a\']\n']);
    const bad = await run('print("before")\ny = [1, 2]\nprint(y[5])');
    assert.deepEqual([bad.ok, bad.error, bad.message, bad.stdout], [false, 'exception', 'IndexError: list index out of range (line 3)', 'before\n']);
    // printing the word "error" is not an error
    const word = await run('print("Error: none, all fine")');
    assert.equal(word.ok, true);
    const syntax = await run('x = (1');
    assert.equal(syntax.error, 'exception');
    assert.match(syntax.message!, /^SyntaxError/);
  });

  test('every run starts from a fresh namespace: nothing leaks from the one before', async () => {
    const [a, b] = await pool.execute([{ program: 'leak = 42\nprint(leak)' }, { program: 'print(leak)' }]);
    assert.equal(a!.ok, true);
    assert.equal(b!.error, 'exception');
    // in one interpreter, back to back (one lane sees both: a single-request batch each)
    for (const program of ['leak = 1', 'import builtins; print = None', 'len = lambda x: 99']) await run(program);
    const fresh = await run('print(len([1, 2]), "leak" in globals())');
    assert.equal(fresh.stdout, '2 False\n');
    // modules cannot be changed for later runs
    const patched = await run('import math\nmath.pi = 3');
    assert.equal(patched.error, 'sandbox');
    assert.equal((await run('import math\nprint(math.pi)')).stdout, '3.141592653589793\n');
    // random starts from the same seed every run
    const r1 = await run('import random\nrandom.seed(99)\nprint(random.random())');
    const r2 = await run('import random\nprint(random.random())');
    const r3 = await run('import random\nprint(random.random())');
    assert.notEqual(r1.stdout, r2.stdout);
    assert.equal(r2.stdout, r3.stdout);
    // files written in the scratch dir are gone after the run
    assert.equal((await run('open("f.txt", "w").write("x")\nprint(open("f.txt").read())')).stdout, 'x\n');
    assert.equal((await run('import os\nprint(os.path.exists("f.txt"))')).stdout, 'False\n');
  });

  test('limits: timeout, memory, output (head and tail kept)', async () => {
    const slow = await run('import time\ntime.sleep(30)', 1);
    assert.deepEqual([slow.error, slow.message], ['timeout', 'timed out after 1 s']);
    const memory = await run('x = bytearray(2 * 1024**3)');
    assert.equal(memory.error, 'memory');
    const big = await run('for i in range(100000): print(i)');
    assert.equal(big.error, 'output_limit');
    const long = await run('for i in range(3000): print(i)');
    assert.equal(long.ok, true);
    assert.ok(long.stdout.startsWith('0\n1\n2\n') && long.stdout.endsWith('2998\n2999\n'), 'head and tail');
    assert.match(long.stdout, /\.\.\. \[\d+ characters cut\] \.\.\./);
    assert.ok(long.stdout.length < 2200);
  });

  // Each must end as a classified error (never ok, never a thrown promise), and the pool
  // must still answer correctly afterwards.
  const hostile: [string, string, RegExp | string][] = [
    ['infinite loop', 'while True:\n    pass', 'timeout'],
    ['loop that swallows the interrupt', 'while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass', 'timeout'],
    ['sleep', 'import time\ntime.sleep(100)', 'timeout'],
    ['memory bomb', 'x = []\nwhile True:\n    x.append(" " * 10**7)', 'memory'],
    ['fork bomb', 'import os\nwhile True:\n    os.fork()', 'sandbox'],
    ['subprocess', 'import subprocess\nsubprocess.run(["ls"])', 'sandbox'],
    ['os.system', 'import os\nos.system("echo hi")', 'sandbox'],
    ['deep recursion', 'def f(n):\n    return f(n + 1)\nf(0)', 'recursion'],
    ['raised recursion limit', 'import sys\nsys.setrecursionlimit(10**6)', 'sandbox'],
    ['100 MB of output', 'print("x" * 100_000_000)', /^(output_limit|memory)$/],
    ['reading the environment', 'import os\nprint(os.environ["RSTAR_TEST_SECRET"])', 'exception'],
    ['reading /proc/self/environ', 'print(open("/proc/self/environ").read())', 'sandbox'],
    ['reading a file outside scratch', 'print(open("/etc/hostname").read())', 'sandbox'],
    ['listing /', 'import os\nprint(os.listdir("/"))', 'sandbox'],
    ['writing outside scratch', 'open("/tmp/rstar-pwned", "w").write("x")', 'sandbox'],
    ['opening a socket', 'import socket\nsocket.create_connection(("127.0.0.1", 22))', 'sandbox'],
    ['os._exit', 'import os\nos._exit(3)', 'sandbox'],
    ['sys.exit', 'import sys\nsys.exit(0)', 'exit'],
    ['raising SystemExit', 'raise SystemExit(5)', 'exit'],
    ['a signal to itself', 'import os, signal\nos.kill(os.getpid(), signal.SIGKILL)', 'sandbox'],
    ['taking over SIGALRM', 'import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True: pass', 'sandbox'],
    ['killing the parent', 'import os\nos.kill(os.getppid(), 9)', 'sandbox'],
    ['ctypes', 'import ctypes\nctypes.CDLL(None).exit(1)', 'sandbox'],
    ['writing to fd 1', 'import os\nos.write(1, b"{}\\n")', 'sandbox'],
    ['a thread outliving the run', 'import threading\nthreading.Thread(target=lambda: None).start()', 'sandbox'],
  ];
  for (const [name, program, kind] of hostile) {
    test(`hostile: ${name}`, async () => {
      const r = await run(program, 2);
      assert.equal(r.ok, false, `${name} ran: ${JSON.stringify(r)}`);
      if (typeof kind === 'string') assert.equal(r.error, kind, JSON.stringify(r));
      else assert.match(r.error!, kind, JSON.stringify(r));
      const after = await pool.execute([{ program: 'print(6 * 7)' }, { program: 'print(6 * 7)' }]);
      assert.deepEqual(after.map((x) => x.stdout), ['42\n', '42\n'], 'the pool still works');
    });
  }

  test('an interpreter that dies is replaced; the run in flight is a crash, the rest go on', async () => {
    // a segfault no Python-level guard sees
    const results = await pool.execute([
      { program: 'print("before")', timeoutS: 2 },
      { program: 'import faulthandler\nfaulthandler._sigsegv()', timeoutS: 2 },
      { program: 'print("still here")', timeoutS: 2 },
    ]);
    assert.deepEqual(results.map((r) => r.stdout), ['before\n', '', 'still here\n']);
    assert.equal(results[1]!.error, 'crash');
    assert.match(results[1]!.message!, /SIGSEGV/);
  });

  test('sympy and numpy are there when installed, preloaded', { skip: false }, async (t) => {
    if (!preimported.includes('sympy')) return t.skip('sympy is not installed for this Python');
    const r = await run('from sympy import symbols, solve, Rational\nx = symbols("x")\nprint(solve(x**2 - 4, x), Rational(1, 3) + Rational(1, 6))');
    assert.equal(r.stdout, '[-2, 2] 1/2\n');
  });
});

// Trajectories of rStar-style steps: incremental runs must print what cumulative runs print.
const corpus: string[][] = [
  ['<code>\n# Step 1\na = 5\nb = 3\nprint(a)\n<end_of_step>', '\n# Step 2\nc = a * b\n<end_of_step>', '\n# Step 3\ndef f(x):\n    return x + c\n<end_of_step>', '\nc = 100\nprint(f(1))\n<end_of_code>'],
  ['<code>\nitems = [1, 2]\n<end_of_step>', '\nitems.append(3)\nprint(items)\n<end_of_step>', '\nitems.append(4)\nprint(len(items))\n<end_of_code>'],
  ['<code>\nimport random\nr = random.random()\n<end_of_step>', '\nprint(r, random.random())\n<end_of_step>', '\nprint(random.randint(1, 100))\n<end_of_code>'],
  ['<code>\nx = 1\n<end_of_step>', '\ny = x / 0\n<end_of_step>', '\nprint("never")\n<end_of_step>', '\nprint(x)\n<end_of_code>'],
  ['<code>\nfrom fractions import Fraction\nq = Fraction(1, 3)\n<end_of_step>', '\nq += Fraction(1, 6)\nprint(q)\n<end_of_step>', '\nclass P:\n    v = 2\np = P()\n<end_of_step>', '\nprint(p.v * q)\n<end_of_code>'],
  ['<code>\ng = (i * i for i in range(5))\n<end_of_step>', '\nprint(next(g))\n<end_of_step>', '\nprint(list(g))\n<end_of_code>'],
  ['<code>\nfor i in range(50): print(i)\n<end_of_step>', '\nfor i in range(50, 60): print(i)\n<end_of_code>'],
];

describe('incremental mode', { skip: pythonSkip }, () => {
  let pool: ExecutorPool;
  before(() => {
    pool = new ExecutorPool({ workers: 2, timeoutS: 5, keepChars: 60 });
  });
  after(() => pool.close());

  test('gives the outputs and errors of cumulative mode on the corpus, reusing saved states', async () => {
    const incremental = new PythonVerifier(pool, 'incremental');
    const cumulative = new PythonVerifier(pool, 'cumulative');
    let reusedRuns = 0;
    for (const [k, steps] of corpus.entries()) {
      const problem = { id: `corpus${k}`, problem: '', answer: '' };
      for (let i = 0; i < steps.length; i++) {
        const request = { problem, steps: steps.slice(0, i), step: steps[i]! };
        const [inc] = await incremental.verify([request]);
        const [cum] = await cumulative.verify([request]);
        assert.deepEqual(inc, cum, `trajectory ${k}, step ${i}`);
        // the same program run directly, to count reuse
        const code = parseStep(steps[i]!);
        assert.equal(code.kind, 'code');
      }
      incremental.forget(problem.id);
    }
    // Reuse: a depth-4 chain run incrementally by hand.
    const steps = corpus[0]!;
    for (let i = 0; i < steps.length; i++) {
      const { code } = parseStep(steps[i]!) as { code: string };
      const { program } = blockProgram(steps.slice(0, i), code);
      const [r] = await pool.execute([{ program, tree: 'chain', node: `n${i}`, parent: i === 0 ? null : `n${i - 1}`, step: code }]);
      if (r!.reused) reusedRuns++;
    }
    assert.equal(reusedRuns, steps.length - 1, 'each step after the first ran on its parent state');
    pool.drop('chain');
    const [gone] = await pool.execute([{ program: 'print(1)', tree: 'chain', node: 'x', parent: 'n2', step: 'print(2)' }]);
    assert.deepEqual([gone!.reused, gone!.stdout], [false, '1\n'], 'dropped states are not used: the whole program runs');
  });
});

// Programs that escape the Python-level layer. `osGlobals` is the real os module's
// namespace (os.write, os.fork... unwrapped), reached through a class every interpreter has;
// `hookOff` then switches the audit hook off through its gate's closure cell. What is left
// to stop them is the protocol (both isolations) and the kernel (fork isolation).
const osGlobals = "g = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__\n";
const hookOff = "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Open' and c.__module__ == '__main__'][0].__enter__.__closure__[0].cell_contents[0] = True\n";
const forger = (line: string) =>
  `${osGlobals}import json\nfor fd in range(3, 8):\n    for i in range(0, 40):\n        try:\n            g['write'](fd, (${line} + "\\n").encode())\n        except OSError:\n            pass\nprint("done")\n`;

for (const isolation of ['inprocess', 'fork'] as const) {
  describe(`a program cannot forge other programs' results (${isolation})`, { skip: pythonSkip }, () => {
    let pool: ExecutorPool;
    before(() => {
      pool = new ExecutorPool({ workers: 1, isolation, timeoutS: 2 });
    });
    after(() => pool.close());

    const cases: [string, string][] = [
      ['replies with guessed ids', forger('json.dumps({"id": i, "ok": True, "stdout": "FORGED", "ms": 0})')],
      ['replies with guessed string ids', forger('json.dumps({"id": str(i), "ok": True, "stdout": "FORGED", "ms": 0})')],
      ['malformed lines', forger('"garbage " + str(i)')],
      ['hello lines', forger('json.dumps({"ready": True})')],
      // (from fd 7 down: node's stdio pipes are socketpairs, so fd 3, the protocol's input,
      // takes writes too, until its buffer is full and the program blocks on it)
      ['one endless line', `${osGlobals}for fd in range(7, 2, -1):\n    try:\n        for _ in range(300):\n            g['write'](fd, b"x" * 65536)\n    except OSError:\n        pass\nprint("done")\n`],
    ];
    for (const [name, program] of cases) {
      test(name, async () => {
        const results = await pool.execute([{ program }, { program: 'print(1)' }, { program: 'print(2)' }]);
        assert.deepEqual(results.slice(1).map((r) => [r.ok, r.stdout]), [[true, '1\n'], [true, '2\n']], JSON.stringify(results));
        // the forger itself: at most its own result, never a clean run of someone else's
        assert.notEqual(results[0]!.stdout, 'FORGED', JSON.stringify(results[0]));
        assert.equal(results[0]!.ok === false ? results[0]!.error : 'sandbox', 'sandbox', JSON.stringify(results[0]));
      });
    }

    test('a blocked operation the program catches still makes the run a sandbox error', async () => {
      const results = await pool.execute([
        { program: 'import os\ntry:\n    while True:\n        os.fork()\nexcept OSError:\n    pass\nprint("clean")' },
        { program: 'try:\n    open("/etc/hostname").read()\nexcept Exception:\n    pass\nprint("clean")' },
        { program: 'import math\ntry:\n    math.pi = 3\nexcept BaseException:\n    pass\nprint("clean")' },
        { program: 'print("clean")' },
      ]);
      assert.deepEqual(results.map((r) => r.error ?? 'ok'), ['sandbox', 'sandbox', 'sandbox', 'ok'], JSON.stringify(results));
      assert.match(results[0]!.message!, /caught/);
    });
  });
}

describe('fork isolation: the kernel contains a program that got past the audit hook', { skip: pythonSkip }, () => {
  let pool: ExecutorPool;
  let containment: { seccomp: boolean; landlock: number } | null = null;
  before(async () => {
    pool = new ExecutorPool({ workers: 1, isolation: 'fork', timeoutS: 3 });
    containment = (await pool.hello())[0]!['containment'] as typeof containment;
  });
  after(() => pool.close());
  const outside = join(tmpdir(), `rstar-escape-${process.pid}`);

  test('the zygote says which kernel layers this machine enforces', () => {
    assert.equal(typeof containment?.seccomp, 'boolean', JSON.stringify(containment));
    assert.equal(typeof containment?.landlock, 'number', JSON.stringify(containment));
  });

  test('the audit hook really is off in these programs (else the tests below prove nothing)', async () => {
    // with the hook off, reading outside the scratch dir works: reads are the hook's alone
    const [r] = await pool.execute([{ program: `${hookOff}print(open("/etc/hostname").read() != "")` }]);
    assert.deepEqual([r!.ok, r!.stdout], [true, 'True\n'], JSON.stringify(r));
  });

  const escapes: [string, string, 'seccomp' | 'landlock'][] = [
    ['fork', `${hookOff}${osGlobals}g['fork']()\nprint("forked")`, 'seccomp'],
    ['exec', `${hookOff}${osGlobals}g['execv']('/bin/sh', ['sh', '-c', 'echo hi'])`, 'seccomp'],
    ['a socket', `${hookOff}import _socket\n_socket.socket()\nprint("socket")`, 'seccomp'],
    ['killing the zygote', `${hookOff}${osGlobals}g['kill'](g['getppid'](), 9)`, 'seccomp'],
    ['writing outside the scratch dir', `${hookOff}open(${JSON.stringify(outside)}, "w").write("x")\nprint("wrote")`, 'landlock'],
  ];
  for (const [name, program, layer] of escapes) {
    test(name, async (t) => {
      if (!containment || (layer === 'seccomp' ? !containment.seccomp : containment.landlock === 0)) return t.skip(`no ${layer} here (${JSON.stringify(containment)})`);
      const [r, after] = await pool.execute([{ program }, { program: 'print(6 * 7)' }]);
      assert.equal(r!.ok, false, JSON.stringify(r));
      if (layer === 'seccomp') assert.equal(r!.error, 'sandbox', JSON.stringify(r));
      assert.equal(existsSync(outside), false);
      assert.equal(after!.stdout, '42\n', 'the zygote goes on');
    });
  }

  test('files written in the scratch dir still work', async () => {
    const [r] = await pool.execute([{ program: `${hookOff}open("f.txt", "w").write("x")\nprint(open("f.txt").read())` }]);
    assert.equal(r!.stdout, 'x\n', JSON.stringify(r));
  });
});

describe('python verifier', { skip: pythonSkip }, () => {
  test('classifies answers, code that runs, code that fails and malformed steps', async () => {
    const pool = new ExecutorPool({ workers: 1 });
    try {
      const v = new PythonVerifier(pool);
      const problem = { id: 'p', problem: 'q', answer: '17' };
      const verdicts = await v.verify([
        { problem, steps: [], step: '<code>\nx = 17\nprint(x)\n<end_of_code>' },
        { problem, steps: [], step: '<code>\nx = 17 / 0\n<end_of_step>' },
        { problem, steps: [], step: '<answer>\\boxed{17}<end_of_answer>' },
        { problem, steps: [], step: '<code>\nx = 1' },
      ]);
      assert.deepEqual(verdicts, [
        // a step that closes its code block shows its output to the next step; one that does not, only itself
        { kind: 'step', output: '17\n', shown: '<code>\nx = 17\nprint(x)\n<end_of_code>\n<output>17\n<end_of_output>\n' },
        { kind: 'error', output: 'ZeroDivisionError: division by zero (line 1)', why: 'exception', shown: '<code>\nx = 17 / 0\n<end_of_step>' },
        { kind: 'answer', answer: '17', shown: '<answer>\\boxed{17}<end_of_answer>' },
        { kind: 'invalid', why: 'unterminated', shown: '<code>\nx = 1' },
      ]);
    } finally {
      await pool.close();
    }
  });

  test('fork isolation runs the same programs in child processes', async () => {
    const pool = new ExecutorPool({ workers: 1, isolation: 'fork', timeoutS: 2 });
    try {
      const [ok, bad, slow] = await pool.execute([{ program: 'print(sum(range(10)))' }, { program: 'import os\nos.fork()' }, { program: 'while True: pass', timeoutS: 1 }]);
      assert.deepEqual([ok!.stdout, bad!.error, slow!.error], ['45\n', 'sandbox', 'timeout']);
      assert.equal((await pool.hello())[0]!['isolation'], 'fork');
    } finally {
      await pool.close();
    }
  });
});

test('the network namespace, when available, leaves the interpreter no network', { skip: pythonSkip }, (t) => {
  const probe = spawnSync('unshare', ['--user', '--map-root-user', '--net', 'cat', '/proc/net/dev'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.skip('unprivileged user namespaces are not available here');
  const interfaces = probe.stdout.split('\n').slice(2).filter((l) => l.trim()).map((l) => l.split(':')[0]!.trim());
  assert.deepEqual(interfaces, ['lo']);
});
