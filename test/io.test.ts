// Unit tests of the input/output helpers (problems JSONL, crash-safe trees JSONL, atomic
// JSON), the step format helpers, the exact grader and the simulated policy and verifier.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { JsonlAppender, rejectedFile, reopen } from '../src/io/jsonl.js';
import { countProblems, InputError, parseProblem, readProblems, type Problem } from '../src/io/problems.js';
import { treeLineProblem } from '../src/engine/export.js';
import { SimPolicy, simDefaults, simTag, solutionLength, type SimOptions } from '../src/sim/policy.js';
import { exactEqual } from '../src/grade/exact-grader.js';
import { SimVerifier } from '../src/sim/verifier.js';
import { answerEnd, codeEnd, lastBoxed, shownStep, stepEnd, stopStrings } from '../src/format/step.js';

const root = mkdtempSync(join(tmpdir(), 'rstar-io-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let fileCount = 0;
/** A fresh path in the temp dir, written with `content` when given. */
function tempFile(content?: string | Buffer, name = 'f'): string {
  const file = join(root, `${name}-${++fileCount}.jsonl`);
  if (content !== undefined) writeFileSync(file, content);
  return file;
}

async function collect(file: string): Promise<Problem[]> {
  const out: Problem[] = [];
  for await (const p of readProblems(file)) out.push(p);
  return out;
}

/** Asserts that fn throws (or rejects with) an InputError whose message matches every pattern. */
async function assertInputError(fn: () => unknown, ...patterns: (RegExp | string)[]): Promise<void> {
  await assert.rejects(
    async () => fn(),
    (e: unknown) => {
      assert.ok(e instanceof InputError, `expected an InputError, got ${String(e)}`);
      for (const p of patterns) {
        if (typeof p === 'string') assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
        else assert.match(e.message, p);
      }
      return true;
    },
  );
}

describe('parseProblem', () => {
  test('accepts a well-formed line and keeps only id, problem, answer', () => {
    const p = parseProblem('{"id": "a1", "problem": "What is 2+2?", "answer": "4", "solution": "2+2=4"}', 'f.jsonl:1');
    assert.deepEqual(p, { id: 'a1', problem: 'What is 2+2?', answer: '4' });
  });

  test('numeric id and answer become strings', () => {
    assert.deepEqual(parseProblem('{"id": 7, "problem": "p", "answer": 1.5}', 'w'), { id: '7', problem: 'p', answer: '1.5' });
    assert.deepEqual(parseProblem('{"id": 0, "problem": "p", "answer": -3}', 'w'), { id: '0', problem: 'p', answer: '-3' });
  });

  test('invalid JSON names the place', async () => {
    await assertInputError(() => parseProblem('{"id": "a", "problem": ', 'probs.jsonl:3'), /^probs\.jsonl:3: /, 'not valid JSON');
  });

  test('a JSON value that is not an object is refused', async () => {
    for (const line of ['[1, 2]', '"text"', '42', 'null', 'true']) {
      await assertInputError(() => parseProblem(line, 'x:9'), /^x:9: /, 'expected a JSON object');
    }
  });

  test('missing fields are named', async () => {
    await assertInputError(() => parseProblem('{"problem": "p", "answer": "1"}', 'f:2'), /^f:2: /, 'missing field "id"');
    await assertInputError(() => parseProblem('{"id": "a", "answer": "1"}', 'f:3'), /^f:3: /, 'missing field "problem"');
    await assertInputError(() => parseProblem('{"id": "a", "problem": "p"}', 'f:4'), /^f:4: /, 'missing field "answer"');
  });

  test('wrong types are named with the field', async () => {
    await assertInputError(() => parseProblem('{"id": true, "problem": "p", "answer": "1"}', 'f:1'), 'field "id" must be a non-empty string or a number');
    await assertInputError(() => parseProblem('{"id": "", "problem": "p", "answer": "1"}', 'f:1'), 'field "id" must be');
    await assertInputError(() => parseProblem('{"id": null, "problem": "p", "answer": "1"}', 'f:1'), 'field "id" must be');
    // the problem text must be a string: a number is not accepted there
    await assertInputError(() => parseProblem('{"id": "a", "problem": 12, "answer": "1"}', 'f:1'), /field "problem" must be a non-empty string$/);
    await assertInputError(() => parseProblem('{"id": "a", "problem": "p", "answer": ["1"]}', 'f:1'), 'field "answer" must be a non-empty string or a number');
    await assertInputError(() => parseProblem('{"id": "a", "problem": "p", "answer": {"v": 1}}', 'f:1'), 'field "answer"');
  });
});

describe('readProblems and countProblems', () => {
  const good = [
    '{"id": "p1", "problem": "one", "answer": "1"}',
    '',
    '{"id": 2, "problem": "two", "answer": 2}',
    '   ',
    '{"id": "p3", "problem": "three", "answer": "3"}',
  ].join('\n');

  test('streams the problems in order, skipping blank lines', async () => {
    const file = tempFile(good + '\n\n');
    assert.deepEqual(await collect(file), [
      { id: 'p1', problem: 'one', answer: '1' },
      { id: '2', problem: 'two', answer: '2' },
      { id: 'p3', problem: 'three', answer: '3' },
    ]);
    assert.equal(await countProblems(file), 3);
  });

  test('CRLF line ends and a missing final newline are fine', async () => {
    const file = tempFile('{"id": "a", "problem": "x", "answer": "1"}\r\n{"id": "b", "problem": "y", "answer": "2"}');
    assert.deepEqual(
      (await collect(file)).map((p) => p.id),
      ['a', 'b'],
    );
    assert.equal(await countProblems(file), 2);
  });

  test('a bad line stops the stream with file:LINE (blank lines counted) after the good ones', async () => {
    const file = tempFile(good + '\n{"id": "p6", "problem": "six"}\n{"id": "p7", "problem": "seven", "answer": "7"}\n');
    const seen: string[] = [];
    await assertInputError(async () => {
      for await (const p of readProblems(file)) seen.push(p.id);
    }, `${file}:6: missing field "answer"`);
    assert.deepEqual(seen, ['p1', '2', 'p3']);
    // counting does not parse
    assert.equal(await countProblems(file), 5);
  });

  test('invalid JSON is reported with its line', async () => {
    const file = tempFile('{"id": "a", "problem": "x", "answer": "1"}\n{"id": "b", "problem": \n');
    await assertInputError(() => collect(file), `${file}:2: not valid JSON`);
  });

  test('a duplicate id is refused at its second line, also across string and number', async () => {
    const file = tempFile('{"id": "a", "problem": "x", "answer": "1"}\n{"id": "b", "problem": "y", "answer": "2"}\n{"id": "a", "problem": "z", "answer": "3"}\n');
    await assertInputError(() => collect(file), `${file}:3: duplicate id "a"`);
    const mixed = tempFile('{"id": 5, "problem": "x", "answer": "1"}\n{"id": "5", "problem": "y", "answer": "2"}\n');
    await assertInputError(() => collect(mixed), `${mixed}:2: duplicate id "5"`);
  });

  test('streams a large file without reading it whole', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ id: `q${i}`, problem: `problem ${i}`, answer: String(i) }));
    const file = tempFile(lines.join('\n') + '\n');
    let n = 0;
    for await (const p of readProblems(file)) {
      assert.equal(p.id, `q${n}`);
      n++;
    }
    assert.equal(n, 5000);
    assert.equal(await countProblems(file), 5000);
  });

  test('a missing file rejects', async () => {
    await assert.rejects(() => collect(join(root, 'no-such-file.jsonl')), /ENOENT/);
    await assert.rejects(() => countProblems(join(root, 'no-such-file.jsonl')), /ENOENT/);
  });
});

describe('reopen', () => {
  test('a missing file: no ids, nothing cut, nothing created', async () => {
    const file = join(root, 'missing-trees.jsonl');
    assert.deepEqual(await reopen(file), { ids: new Set(), cut: 0, rejected: 0 });
    assert.throws(() => statSync(file), /ENOENT/);
  });

  test('an empty file: no ids, nothing cut', async () => {
    const file = tempFile('');
    assert.deepEqual(await reopen(file), { ids: new Set(), cut: 0, rejected: 0 });
    assert.equal(readFileSync(file, 'utf8'), '');
  });

  test('complete lines: their ids, the file unchanged', async () => {
    const content = '{"id":"a","x":1}\n{"id":"b\\"q","nodes":[]}\n{"id":"\\u00e9t\\u00e9","y":{"id":"inner"}}\n';
    const file = tempFile(content);
    const r = await reopen(file);
    assert.deepEqual(r, { ids: new Set(['a', 'b"q', 'été']), cut: 0, rejected: 0 });
    assert.equal(readFileSync(file, 'utf8'), content);
  });

  test('a torn last line is cut: cut is its size in bytes and the file is truncated', async () => {
    const complete = '{"id":"a","v":1}\n{"id":"b","v":2}\n';
    const torn = '{"id":"c","problem":"é€'; // multi-byte characters: bytes, not characters
    const file = tempFile(complete + torn);
    const r = await reopen(file);
    assert.deepEqual(r.ids, new Set(['a', 'b']));
    assert.equal(r.cut, Buffer.byteLength(torn));
    assert.notEqual(r.cut, torn.length);
    assert.equal(readFileSync(file, 'utf8'), complete);
    // reopening again finds nothing more to cut
    assert.deepEqual(await reopen(file), { ids: new Set(['a', 'b']), cut: 0, rejected: 0 });
  });

  test('a file that is one torn line is emptied', async () => {
    const torn = '{"id":"ex-9","pro';
    const file = tempFile(torn);
    assert.deepEqual(await reopen(file), { ids: new Set(), cut: torn.length, rejected: 0 });
    assert.equal(statSync(file).size, 0);
  });

  test('a torn line longer than the 64 KiB read chunk is cut whole', async () => {
    const complete = '{"id":"a"}\n';
    const torn = '{"id":"b","step":"' + 'x'.repeat(150_000);
    const file = tempFile(complete + torn);
    const r = await reopen(file);
    assert.deepEqual(r, { ids: new Set(['a']), cut: torn.length, rejected: 0 });
    assert.equal(readFileSync(file, 'utf8'), complete);
  });

  test('a long last complete line (> 64 KiB) is kept', async () => {
    const content = '{"id":"a"}\n{"id":"b","step":"' + 'y'.repeat(150_000) + '"}\n';
    const file = tempFile(content);
    assert.deepEqual(await reopen(file), { ids: new Set(['a', 'b']), cut: 0, rejected: 0 });
    assert.equal(statSync(file).size, Buffer.byteLength(content));
  });

  test('a file with no line this tool wrote is an InputError naming file:line', async () => {
    const file = tempFile('{"name":"c"}\n{"name":"d"}\n');
    await assertInputError(() => reopen(file), `${file}:1: not a line this tool wrote`, '--overwrite');
    const spaced = tempFile('{"id": "a", "problem": "p", "answer": "1"}\n'); // a problems file, not trees
    await assertInputError(() => reopen(spaced, treeLineProblem), `${spaced}:1:`, 'no "nodes" list');
    assert.equal(readFileSync(spaced, 'utf8'), '{"id": "a", "problem": "p", "answer": "1"}\n', 'left as it was');
  });

  test('bad lines among good ones are moved, unchanged, to NAME.rejected.jsonl; the file keeps the good ones', async () => {
    const dir = mkdtempSync(join(root, 'rejected-'));
    const file = join(dir, 'trees.jsonl');
    // torn, blank, another tool's, failing the check; then one that is not UTF-8
    const bad = ['{"id":"b","nodes":[{"id":0,', '', '{"name":"x"}', '{"id":"e","check":false}'];
    writeFileSync(file, ['{"id":"a"}', bad[0], bad[1], '{"id":"c"}', bad[2], '{"id":"d"}', bad[3]].join('\n') + '\n');
    appendFileSync(file, Buffer.concat([Buffer.from([0x7b, 0xff, 0x7d, 0x0a]), Buffer.from('{"id":"f"}\n')]));
    const check = (o: Record<string, unknown>) => (o['check'] === false ? 'check says no' : undefined);
    const r = await reopen(file, check);
    assert.deepEqual(r, { ids: new Set(['a', 'c', 'd', 'f']), cut: 0, rejected: 5 });
    assert.equal(readFileSync(file, 'utf8'), '{"id":"a"}\n{"id":"c"}\n{"id":"d"}\n{"id":"f"}\n');
    const moved = readFileSync(join(dir, 'trees.rejected.jsonl'));
    assert.deepEqual(moved, Buffer.concat([Buffer.from(`${bad[0]}\n\n${bad[2]}\n${bad[3]}\n`), Buffer.from([0x7b, 0xff, 0x7d, 0x0a])]), 'byte for byte');
    // reopening again finds nothing more
    assert.deepEqual(await reopen(file, check), { ids: new Set(['a', 'c', 'd', 'f']), cut: 0, rejected: 0 });
    assert.equal(rejectedFile('out/results.jsonl'), 'out/results.rejected.jsonl');
  });
});

describe('input bytes', () => {
  test('a UTF-8 byte order mark is dropped', async () => {
    const file = tempFile(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"id":"a","problem":"p","answer":"1"}\n')]));
    const got = [];
    for await (const p of readProblems(file)) got.push(p);
    assert.deepEqual(got, [{ id: 'a', problem: 'p', answer: '1' }]);
  });

  test('bytes that are not UTF-8 are refused with FILE:LINE, not turned into U+FFFD', async () => {
    const file = tempFile(Buffer.concat([Buffer.from('{"id":"a","problem":"p","answer":"1"}\n{"id":"b","problem":"caf'), Buffer.from([0xe9]), Buffer.from('","answer":"2"}\n')]));
    await assertInputError(async () => {
      for await (const _ of readProblems(file)) {
        // drain
      }
    }, `${file}:2: not UTF-8`);
    await assertInputError(() => countProblems(file), `${file}:2: not UTF-8`);
  });

  test('CRLF line ends are read as line ends', async () => {
    const file = tempFile('{"id":"a","problem":"p","answer":"1"}\r\n{"id":"b","problem":"q","answer":"2"}\r\n');
    const got = [];
    for await (const p of readProblems(file)) got.push(p.answer);
    assert.deepEqual(got, ['1', '2']);
  });
});

describe('JsonlAppender', () => {
  test('append + close writes one JSON line per value, in order', async () => {
    const file = tempFile();
    const values = [{ id: 'a', n: 1 }, { id: 'b', text: 'line\nbreak "quoted"' }, { id: 'c', nested: { x: [1, 2, null] } }];
    const w = await JsonlAppender.open(file);
    for (const v of values) await w.append(v);
    await w.close();
    const text = readFileSync(file, 'utf8');
    assert.ok(text.endsWith('\n'));
    const lines = text.split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), values);
    assert.deepEqual(await reopen(file), { ids: new Set(['a', 'b', 'c']), cut: 0, rejected: 0 });
  });

  test('appends made at once are all written, in call order, and each promise resolves once its line is in the file', async () => {
    const file = tempFile();
    const w = await JsonlAppender.open(file);
    const pending = Array.from({ length: 200 }, (_, i) =>
      w.append({ id: `t${i}` }).then(() => {
        // resolved only once the line is on disk
        assert.ok(readFileSync(file, 'utf8').includes(`{"id":"t${i}"}\n`));
      }),
    );
    await Promise.all(pending);
    await w.close();
    const ids = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    assert.deepEqual(ids, Array.from({ length: 200 }, (_, i) => `t${i}`));
  });

  test('opening appends to an existing file', async () => {
    const file = tempFile('{"id":"old"}\n');
    const w = await JsonlAppender.open(file);
    await w.append({ id: 'new' });
    await w.close();
    assert.equal(readFileSync(file, 'utf8'), '{"id":"old"}\n{"id":"new"}\n');
  });
});

describe('writeJsonAtomic', () => {
  test('the file holds the JSON and no temp file is left behind', async () => {
    const dir = mkdtempSync(join(root, 'atomic-'));
    const file = join(dir, 'stats.json');
    const value = { problems: 3, nested: { list: [1, 'two', null], ok: true } };
    await writeJsonAtomic(file, value);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), value);
    assert.deepEqual(readdirSync(dir), ['stats.json']);
    // replacing it
    await writeJsonAtomic(file, [1, 2, 3]);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), [1, 2, 3]);
    assert.deepEqual(readdirSync(dir), ['stats.json']);
  });

  test('a missing directory rejects and leaves the target untouched', async () => {
    const file = join(root, 'no-such-dir', 'x.json');
    await assert.rejects(() => writeJsonAtomic(file, { a: 1 }), /ENOENT/);
  });
});

describe('lastBoxed', () => {
  test('plain and nested braces', () => {
    assert.equal(lastBoxed('so \\boxed{42}.'), '42');
    assert.equal(lastBoxed('\\boxed{\\frac{1}{2}}'), '\\frac{1}{2}');
    assert.equal(lastBoxed('x \\boxed{{a}{b{c}}} y'), '{a}{b{c}}');
    assert.equal(lastBoxed('\\boxed{}'), '');
  });

  test('the last of several', () => {
    assert.equal(lastBoxed('first \\boxed{1}, then \\boxed{2}, finally \\boxed{3} done'), '3');
    assert.equal(lastBoxed('\\boxed{\\text{a}} and \\boxed{b}'), 'b');
  });

  test('unbalanced or absent -> undefined', () => {
    assert.equal(lastBoxed('\\boxed{12'), undefined);
    assert.equal(lastBoxed('\\boxed{\\frac{1}{2}'), undefined);
    assert.equal(lastBoxed('no box here'), undefined);
    assert.equal(lastBoxed('boxed{3}'), undefined);
    assert.equal(lastBoxed(''), undefined);
  });
});

describe('exactEqual', () => {
  const equal: [string, string][] = [
    ['1,000', '1000'],
    ['1,234,567', '1234567'],
    ['\\text{5}', '5'],
    ['18.0', '18'],
    ['$18', '18'],
    ['18.', '18'],
    [' 18 ', '18'],
    ['0.5', '.5'],
    ['x+1', 'x + 1'],
    ['10\\,000', '10000'],
  ];
  for (const [a, b] of equal) {
    test(`${JSON.stringify(a)} == ${JSON.stringify(b)}`, () => {
      assert.equal(exactEqual(a, b), true);
      assert.equal(exactEqual(b, a), true);
    });
  }
  const different: [string, string][] = [
    ['3', '4'],
    ['18', '180'],
    ['1,00', '100'], // not a thousands group
    ['', '0'],
    ['abc', 'abd'],
    ['1/2', '0.5'], // no maths: fractions are the real grader's job
  ];
  for (const [a, b] of different) {
    test(`${JSON.stringify(a)} != ${JSON.stringify(b)}`, () => {
      assert.equal(exactEqual(a, b), false);
      assert.equal(exactEqual(b, a), false);
    });
  }
});

describe('SimPolicy and SimVerifier', () => {
  const problems: Problem[] = Array.from({ length: 12 }, (_, i) => ({ id: `sim-${i}`, problem: `problem ${i}`, answer: String(10 + 7 * i) }));
  const requests = (steps: readonly string[] = []) => problems.map((problem) => ({ problem, steps, n: 6 }));

  test('the same seed and requests give the same output, also from a new instance', async () => {
    const a = await new SimPolicy({ seed: 3 }).generate(requests());
    const b = await new SimPolicy({ seed: 3 }).generate(requests());
    const policy = new SimPolicy({ seed: 3 });
    const c = await policy.generate(requests());
    const d = await policy.generate(requests());
    assert.deepEqual(a, b);
    assert.deepEqual(a, c);
    assert.deepEqual(c, d);
    assert.equal(a.length, problems.length);
    for (const cands of a) assert.equal(cands.length, 6);
  });

  test('the output does not depend on the batch it comes in', async () => {
    const policy = new SimPolicy({ seed: 5 });
    const batch = await policy.generate(requests());
    for (let i = 0; i < problems.length; i++) {
      const [alone] = await policy.generate([{ problem: problems[i]!, steps: [], n: 6 }]);
      assert.deepEqual(alone, batch[i]);
    }
  });

  test('different seeds differ', async () => {
    const a = await new SimPolicy({ seed: 1 }).generate(requests());
    const b = await new SimPolicy({ seed: 2 }).generate(requests());
    assert.notDeepEqual(a, b);
  });

  test('candidates differ within one request and by trajectory', async () => {
    const policy = new SimPolicy({ seed: 0, minSteps: 5, maxSteps: 5 });
    const [first] = await policy.generate([{ problem: problems[0]!, steps: [], n: 8 }]);
    assert.ok(new Set(first).size > 1, 'all 8 candidates identical');
    const [next] = await policy.generate([{ problem: problems[0]!, steps: [first![0]!], n: 8 }]);
    assert.notDeepEqual(next, first);
  });

  test('every candidate ends with a stop string and carries a sim tag', async () => {
    const policy = new SimPolicy({ seed: 9, minSteps: 1, maxSteps: 3 });
    let steps: string[] = [];
    for (let depth = 0; depth < 4; depth++) {
      const out = await policy.generate(requests(steps));
      for (const cands of out) {
        for (const c of cands) {
          assert.ok(
            stopStrings.some((s) => c.endsWith(s)),
            `candidate does not end with a stop string: ${JSON.stringify(c)}`,
          );
          assert.notEqual(simTag(c), undefined);
        }
      }
      steps = [...steps, out[0]![0]!];
    }
  });

  test('n = 0 gives no candidates', async () => {
    assert.deepEqual(await new SimPolicy().generate([{ problem: problems[0]!, steps: [], n: 0 }]), [[]]);
  });

  test('bad options are refused', () => {
    assert.throws(() => new SimPolicy({ minSteps: 0 }), /minSteps/);
    assert.throws(() => new SimPolicy({ minSteps: 4, maxSteps: 3 }), /minSteps/);
    assert.throws(() => new SimPolicy({ pCorrect: 0.8, pError: 0.3 }), /pCorrect/);
    assert.throws(() => new SimPolicy({ pCorrect: -0.1 }), /pCorrect/);
  });

  test('solutionLength stays within [minSteps, maxSteps] and varies by problem', () => {
    const o: SimOptions = { ...simDefaults, minSteps: 2, maxSteps: 6 };
    const lengths = problems.map((p) => solutionLength(p, o));
    for (const l of lengths) assert.ok(l >= 2 && l <= 6, `length ${l}`);
    assert.ok(new Set(lengths).size > 1);
    assert.equal(solutionLength(problems[0]!, { ...o, minSteps: 4, maxSteps: 4 }), 4);
  });

  test('pCorrect = 1, pError = 0: a chain reaches \\boxed{gold} after exactly solutionLength steps, and the verifier classifies each step', async () => {
    const options: Partial<SimOptions> = { seed: 11, minSteps: 1, maxSteps: 7, pCorrect: 1, pError: 0 };
    const policy = new SimPolicy(options);
    const verifier = new SimVerifier();
    const lengths = new Set<number>();
    for (const problem of problems) {
      const length = solutionLength(problem, policy.options);
      lengths.add(length);
      const steps: string[] = [];
      for (;;) {
        const [cands] = await policy.generate([{ problem, steps, n: 3 }]);
        assert.equal(cands!.length, 3);
        const verdicts = await verifier.verify(cands!.map((step) => ({ problem, steps, step })));
        const k = steps.length + 1;
        for (const [j, c] of cands!.entries()) {
          assert.equal(simTag(c), 'ok');
          if (k < length) {
            assert.ok(c.endsWith(stepEnd));
            assert.equal(lastBoxed(c), undefined);
            assert.deepEqual(verdicts[j], { kind: 'step', shown: c });
          } else {
            assert.ok(c.endsWith(answerEnd));
            assert.ok(c.includes(codeEnd));
            assert.equal(lastBoxed(c), problem.answer);
            assert.deepEqual(verdicts[j], { kind: 'answer', answer: problem.answer, output: problem.answer, shown: shownStep(c, problem.answer) });
          }
        }
        steps.push(cands![0]!);
        if (k >= length) break;
        assert.ok(steps.length < 20, 'runaway chain');
      }
      assert.equal(steps.length, length, `problem ${problem.id}`);
    }
    assert.ok(lengths.size > 1, 'the test should cover several solution lengths');
  });

  test('pCorrect = 0, pError = 0: every step is wrong and the final answer is not the gold one', async () => {
    const policy = new SimPolicy({ seed: 4, minSteps: 2, maxSteps: 2, pCorrect: 0, pError: 0 });
    const verifier = new SimVerifier();
    const problem = problems[1]!;
    const [first] = await policy.generate([{ problem, steps: [], n: 2 }]);
    assert.equal(simTag(first![0]!), 'wrong');
    const steps = [first![0]!];
    const [last] = await policy.generate([{ problem, steps, n: 4 }]);
    const verdicts = await verifier.verify(last!.map((step) => ({ problem, steps, step })));
    for (const v of verdicts) {
      assert.equal(v.kind, 'answer');
      assert.notEqual(v.answer, problem.answer);
      assert.equal(exactEqual(v.answer!, problem.answer), false);
    }
  });

  test('pError = 1: every step is a code error, classified as error', async () => {
    const policy = new SimPolicy({ seed: 4, pCorrect: 0, pError: 1 });
    const problem = problems[2]!;
    const [cands] = await policy.generate([{ problem, steps: [], n: 5 }]);
    const verdicts = await new SimVerifier().verify(cands!.map((step) => ({ problem, steps: [], step })));
    for (const [j, c] of cands!.entries()) {
      assert.equal(simTag(c), 'error');
      assert.equal(verdicts[j]!.kind, 'error');
      assert.equal(typeof verdicts[j]!.output, 'string');
    }
  });

  test('the verifier calls garbage, untagged or unterminated steps invalid', async () => {
    const problem = problems[0]!;
    const garbage = [
      'lorem ipsum',
      '',
      `<code>\n# no tag here\nx = 1\n${stepEnd}`,
      '<code>\n# Step 1 [sim:ok]\nx = 1\n', // no stop string
      `The answer is \\boxed{10}${answerEnd}`, // untagged answer
      `<code>\n# Step 1 [sim:maybe]\nx = 1\n${stepEnd}`,
    ];
    const verdicts = await new SimVerifier().verify(garbage.map((step) => ({ problem, steps: [], step })));
    assert.deepEqual(
      verdicts.map((v) => v.kind),
      garbage.map(() => 'invalid'),
    );
  });

  test('the verifier reads a hand-written answer step without output', async () => {
    const step = `<answer>[sim:ok] The answer is \\boxed{\\frac{1}{2}}${answerEnd}`;
    const [v] = await new SimVerifier().verify([{ problem: problems[0]!, steps: [], step }]);
    assert.deepEqual(v, { kind: 'answer', answer: '\\frac{1}{2}', shown: step });
  });
});
