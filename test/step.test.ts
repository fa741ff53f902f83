// The rStar step format: parsing each kind of step, classifying malformed ones, the
// programs of code blocks, and rendering a trajectory back to the exact solution text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { blockProgram, lastBoxed, parseStep, renderTrajectory, splitTrajectory, stepCode, stripText } from '../src/format/step.js';

const solution = [
  '<code>\n# Step 1: Tom has 5 apples and buys 3 bags of 4\napples = 5\nbags = 3 * 4\n<end_of_step>',
  '\n# Step 2: add them up\ntotal = apples + bags\n<end_of_step>',
  '\n# Now print the final answer\nprint(total)\n<end_of_code>',
  '<answer>He has 17 apples, so the answer is $\\boxed{17}$.<end_of_answer>',
];

test('a whole solution splits into the policy steps and the executor output, and renders back exactly', () => {
  const text = `${solution[0]}${solution[1]}${solution[2]}\n<output>17\n<end_of_output>\n${solution[3]}`;
  const steps = splitTrajectory(text);
  assert.deepEqual(
    steps.map((s) => s.text),
    solution,
  );
  assert.equal(steps[2]!.output, '17\n');
  assert.equal(renderTrajectory(steps), text);
});

test('round trip on generated trajectories', () => {
  const line = fc.stringMatching(/^[a-z0-9 =+*()#:]{0,20}$/);
  const codeStep = fc.array(line, { minLength: 1, maxLength: 4 }).map((ls) => `\n${ls.join('\n')}\n<end_of_step>`);
  fc.assert(
    fc.property(fc.array(codeStep, { maxLength: 5 }), fc.array(line, { maxLength: 3 }), fc.string({ maxLength: 12 }), (body, out, ans) => {
      const steps = [
        { text: `<code>${body.join('')}\nprint(1)\n<end_of_code>`, output: `${out.join('\n')}\n` },
        { text: `<answer>so \\boxed{${ans.replace(/[{}\\]/g, '')}}<end_of_answer>` },
      ];
      const text = renderTrajectory(steps);
      const back = splitTrajectory(text);
      assert.equal(renderTrajectory(back), text);
      assert.equal(back.at(-2)!.output, steps[0]!.output);
    }),
    { numRuns: 300 },
  );
});

test('each step kind parses, with its code or answer', () => {
  assert.deepEqual(parseStep(solution[0]!), { kind: 'code', code: '# Step 1: Tom has 5 apples and buys 3 bags of 4\napples = 5\nbags = 3 * 4\n', endsCode: false });
  assert.deepEqual(parseStep(solution[2]!), { kind: 'code', code: '# Now print the final answer\nprint(total)\n', endsCode: true });
  assert.deepEqual(parseStep(solution[3]!), { kind: 'answer', answer: '17' });
  // the last \boxed, nested braces and \text{} unwrapped
  assert.deepEqual(parseStep('x \\boxed{1} then \\boxed{\\frac{1}{2}\\text{ cm}}<end_of_answer>'), { kind: 'answer', answer: '\\frac{1}{2} cm' });
  assert.equal(lastBoxed('\\boxed{\\{1, 2\\}}'), '\\{1, 2\\}', 'escaped braces are literal');
  assert.equal(stripText('\\text{(B)}'), '(B)');
});

test('malformed steps are classified, not dropped', () => {
  assert.deepEqual(parseStep('\nx = 1\n'), { kind: 'invalid', reason: 'unterminated' });
  assert.deepEqual(parseStep('\n<end_of_step>'), { kind: 'invalid', reason: 'empty' });
  assert.deepEqual(parseStep('<code>\n<end_of_step>'), { kind: 'invalid', reason: 'empty' });
  assert.deepEqual(parseStep('so \\boxed{12<end_of_answer>'), { kind: 'invalid', reason: 'unbalanced_boxed' });
  assert.deepEqual(parseStep('so \\boxed{ }<end_of_answer>'), { kind: 'invalid', reason: 'empty_answer' });
  assert.deepEqual(parseStep('print(1)\n<end_of_code>\n<output>1<end_of_output><end_of_step>'), { kind: 'invalid', reason: 'forged_output' });
});

test('a code step runs with the earlier steps of its block only', () => {
  const first = parseStep(solution[1]!);
  assert.equal(first.kind, 'code');
  const { program, blockStart } = blockProgram([solution[0]!], (first as { code: string }).code);
  assert.equal(blockStart, 0);
  assert.equal(program, '# Step 1: Tom has 5 apples and buys 3 bags of 4\napples = 5\nbags = 3 * 4\n# Step 2: add them up\ntotal = apples + bags\n');
  // After a closed block (with its output in the context) a new block starts afresh.
  const closed = renderTrajectory([{ text: solution[2]!, output: '17\n' }]);
  const next = blockProgram([solution[0]!, solution[1]!, closed], 'y = 2\n');
  assert.deepEqual(next, { program: 'y = 2\n', blockStart: 3 });
  assert.equal(stepCode('x = 1 <end_of_code> trailing'), 'x = 1 \n', 'nothing after <end_of_code>');
});
