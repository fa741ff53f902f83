// The real verifier and grader in the search: a scripted policy writes executable rStar
// steps (one right, one wrong, one failing candidate per expansion), the Python executor
// runs them, the math grader grades the boxed answers, and the trees carry real outputs,
// code errors and graded answers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ExportedTree } from '../src/engine/export.js';
import { Search } from '../src/engine/search.js';
import type { Policy, StepRequest } from '../src/engine/backend.js';
import { pythonSkip } from './python-skip.js';
import { ExecutorPool } from '../src/verify/executor-pool.js';
import { MathGrader } from '../src/grade/math-grader.js';
import { PythonVerifier } from '../src/verify/python-verifier.js';
import { outputEnd, outputStart } from '../src/format/step.js';

/** "What is A + B?": read the numbers, add them and print, then box the printed value. */
class ScriptedPolicy implements Policy {
  readonly name = 'scripted';
  async generate(requests: StepRequest[]): Promise<string[][]> {
    return requests.map(({ problem, steps }) => {
      const [a, b] = problem.problem.match(/\d+/g)!.map(Number);
      const last = steps.at(-1) ?? '';
      if (last.includes(outputEnd)) {
        const printed = last.slice(last.indexOf(outputStart) + outputStart.length, last.indexOf(outputEnd)).trim();
        return [`<answer>So the answer is \\boxed{${printed}}.<end_of_answer>`];
      }
      if (steps.length === 0) {
        return [
          `<code>\n# Step 1: read the numbers\na = ${a}\nb = ${b}\n<end_of_step>`,
          `<code>\n# Step 1: read the numbers (misread)\na = ${a}\nb = ${b! + 1}\n<end_of_step>`,
          `<code>\n# Step 1: read the numbers\na = ${a} / 0\n<end_of_step>`,
        ];
      }
      return [`\n# Step 2: add them\nprint(a + b)\n<end_of_code>`];
    });
  }
}


describe('search with the python verifier', { skip: pythonSkip }, () => {
  let pool: ExecutorPool;
  let grader: MathGrader;
  before(() => {
    pool = new ExecutorPool({ workers: 2 });
    grader = new MathGrader({ threads: 1 });
  });
  after(async () => {
    await pool.close();
    await grader.close();
  });

  for (const mode of ['cumulative', 'incremental'] as const) {
    test(`${mode}: outputs, code errors and answers come from running the steps`, async () => {
      const trees: ExportedTree[] = [];
      const verifier = new PythonVerifier(pool, mode);
      const search = new Search(
        { rollouts: 6, n: 3, concurrency: 4, rolloutsInFlight: 2, errorsThreshold: 1, engine: 'reference' },
        { policy: new ScriptedPolicy(), verifier, grader },
        ({ tree }) => {
          trees.push(tree);
        },
      );
      async function* problems() {
        for (const [a, b] of [[2, 3], [40, 2], [7, 8], [100, 23], [5, 5]] as const) {
          yield { id: `${a}+${b}`, problem: `What is ${a} + ${b}?`, answer: String(a + b) };
        }
      }
      await search.run(problems());
      assert.equal(trees.length, 5);
      for (const t of trees) {
        const [a, b] = t.id.split('+').map(Number);
        assert.ok(t.solved, `${t.id} solved`);
        const outputs = t.nodes.filter((n) => n.output !== undefined && n.terminal === null).map((n) => n.output);
        assert.ok(outputs.includes(`${a! + b!}\n`), `${t.id}: the right sum was printed`);
        assert.ok(outputs.includes(`${a! + b! + 1}\n`), `${t.id}: the misread sum was printed`);
        const failed = t.nodes.find((n) => n.terminal === 'code_errors');
        assert.equal(failed?.output, 'ZeroDivisionError: division by zero (line 2)');
        const answers = t.nodes.filter((n) => n.terminal === 'answer');
        assert.deepEqual(answers.map((n) => [n.answer, n.correct]).sort(), [[String(a! + b!), true], [String(a! + b! + 1), false]].sort());
      }
    });
  }
});
