// The answer grader on the kinds of answers issue 15 found it missing: inequalities negated
// or scaled, lines and conics written in another form, a side that names what it gives,
// thousands separators written `,\!`, trig functions of degrees, products of complex
// exponentials, factorial identities, and answers to be extracted from a whole solution
// text; and absolute values, which the positive sample points took for the identity (|x| was
// x). Each kind has equal pairs and close-but-unequal ones (no false "equal"). Then two
// measured tables, short answers and extraction, whose rates are asserted and printed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { extractAnswer } from '../src/grade/answer-text.js';
import { equivalent } from '../src/grade/equivalence.js';

type Pair = [pred: string, gold: string];

interface Kind {
  equal: Pair[];
  unequal: Pair[];
}

const kinds: Record<string, Kind> = {
  'inequalities negated or scaled on both sides': {
    equal: [
      ['-x > -1', 'x < 1'],
      ['-2x \\leq 4', 'x \\geq -2'],
      ['2x < 6', 'x < 3'],
      ['-x \\geq -3', 'x \\le 3'],
      ['1 - x > 0', 'x < 1'],
      ['-3 < -x < 2', '-2 < x < 3'],
      ['x + y < 1', '-x - y > -1'],
      ['-x > -1', '(-\\infty, 1)'],
      ['-2x + 4 \\geq 0', '(-\\infty, 2]'],
      ['-x \\neq -1', 'x \\neq 1'],
      ['\\{x \\mid -x > -1\\}', 'x < 1'],
      ['-\\frac{1}{2}x \\le 3', 'x \\geq -6'],
    ],
    unequal: [
      ['x < 1', '-x > 1'],
      ['-x > -1', 'x > 1'],
      ['-x \\geq -1', 'x < 1'],
      ['2x < 6', 'x < 6'],
      ['-x > -1', '(-\\infty, 1]'],
      ['-x > -1', '(1, \\infty)'],
      ['-3 < -x < 2', '-3 < x < 2'],
      ['x^2 < 1', 'x < 1'],
      ['x \\neq 1', 'x \\neq -1'],
      ['x + y < 1', 'x - y < 1'],
      // the factor is found at negated points too: |x| - 1 and x - 1 agree for x > 0
      ['|x| < 1', 'x < 1'],
      ['|x| < 1', '(-\\infty, 1)'],
      ['2x < 6', '(-\\infty, 6)'],
      ['\\{x \\mid -x > -1\\}', 'x > 1'],
    ],
  },
  'a line or conic in another form, or scaled': {
    equal: [
      ['y = -x/2 + 3/4', '2x + 4y - 3 = 0'],
      ['y = 2x + 3', '4x - 2y + 6 = 0'],
      ['2y = 4x + 6', 'y = 2x + 3'],
      ['3x - 6y = 9', 'x - 2y = 3'],
      ['\\frac{x^2}{4} + \\frac{y^2}{9} = 1', '9x^2 + 4y^2 = 36'],
      ['y^2 = 4x', '2y^2 - 8x = 0'],
      ['x^2 + y^2 - 2x = 3', '(x-1)^2 + y^2 = 4'],
      ['y = \\frac{1}{2}x + 1', 'x - 2y + 2 = 0'],
      ['2x = 6', 'x = 3'],
      ['y - 3 = 2(x - 1)', 'y = 2x + 1'],
      ['\\frac{x}{3} + \\frac{y}{4} = 1', '4x + 3y = 12'],
      ['(x-1)^2 + (y+2)^2 = 9', 'x^2 + y^2 - 2x + 4y - 4 = 0'],
    ],
    unequal: [
      ['2y = 4x + 6', 'y = 2x + 6'],
      ['y = -x/2 + 3/4', '2x + 4y + 3 = 0'],
      ['\\frac{x^2}{4} + \\frac{y^2}{9} = 1', '4x^2 + 9y^2 = 36'],
      ['x^2 + y^2 = 4', 'x^2 + y^2 = 2'],
      ['y = 2x + 3', 'x = 2y + 3'],
      ['x - 2y = 3', 'x - 2y = 3.001'],
      ['x = 3', 'y = 3'],
      ['y = |x|', 'y = x'],
      ['x^2 = 1', 'x = 1'],
      ['(x-1)^2 + (y+2)^2 = 9', 'x^2 + y^2 - 2x + 4y - 5 = 0'],
    ],
  },
  'absolute values (sampled at negated points too)': {
    equal: [
      ['|x|', '\\sqrt{x^2}'],
      ['|x - 1|', '|1 - x|'],
      ['|x| + 1', '1 + |x|'],
    ],
    unequal: [
      ['|x|', 'x'],
      ['|x| + 1', 'x + 1'],
      ['|x - 1|', 'x - 1'],
    ],
  },
  'a side that names what it gives': {
    equal: [
      ['(p,q) = (3,2)', '(3,2)'],
      ['(3,2)', '(p, q) = (3, 2)'],
      ['|AB| = 1', '1'],
      ['\\frac{NO}{BO} = \\frac{1}{\\sqrt 6}', '\\frac{1}{\\sqrt{6}}'],
      ['\\frac{NO}{BO} = \\frac{1}{\\sqrt 6}', '\\frac{\\sqrt6}{6}'],
      ['AB = 2\\sqrt{5}', '\\sqrt{20}'],
      ['m\\angle ABC = 40^\\circ', '40'],
      ['(a, b, c) = (1, 2, 3)', '(1,2,3)'],
      ['\\text{Area} = 12', '12'],
      ['\\overline{BC} = 7', '7'],
      ['P(A) = \\frac{1}{4}', '0.25'],
      ['AB = BC = 5', '5'],
    ],
    unequal: [
      ['(p,q) = (3,2)', '(2,3)'],
      ['(p,q) = (3,2)', '(3,2,1)'],
      ['|AB| = 1', '2'],
      ['\\frac{NO}{BO} = \\frac{1}{\\sqrt 6}', '\\sqrt6'],
      ['AB + BC = 5', '5'],
      ['2AB = 6', '6'],
      ['AB^2 = 4', '4'],
      ['|AB| = 1', '|AB| = 2'],
      ['AB = BC = 5', '6'],
    ],
  },
  'thousands separators written ,\\!': {
    equal: [
      ['1,\\! 000', '1000'],
      ['1, \\!000', '1000'],
      ['2,\\!000\\pi', '2000\\pi'],
      ['\\frac{1,\\!000}{3}', '\\frac{1000}{3}'],
      ['12,\\!345,\\!678', '12345678'],
      ['\\$ 4,\\!500', '4500'],
      ['3,\\!600\\text{ seconds}', '3600'],
      ['10,\\!000', '10{,}000'],
    ],
    unequal: [
      ['1,\\!000', '100'],
      ['2,\\!000\\pi', '200\\pi'],
      ['12,\\!345', '12,\\!346'],
      ['1,\\!500', '1.5'],
      ['1,\\! 000', '1, 0'],
    ],
  },
  'trig functions of degrees': {
    equal: [
      ['\\sin(90^\\circ - x)', '\\cos x'],
      ['\\cos(90^\\circ - x)', '\\sin x'],
      ['\\sin 30^\\circ', '\\frac12'],
      ['\\tan 45^{\\circ}', '1'],
      ['\\cos 60°', '0.5'],
      ['\\sin(180^\\circ - x)', '\\sin x'],
      ['\\cos(x + 360^\\circ)', '\\cos x'],
      ['2\\sin 15^\\circ \\cos 15^\\circ', '\\frac{1}{2}'],
      ['\\sin(90^\\circ - x^\\circ)', '\\cos x^\\circ'],
    ],
    unequal: [
      ['\\sin(90^\\circ - x)', '\\sin x'],
      ['\\cos 60^\\circ', '\\frac{\\sqrt3}{2}'],
      ['\\sin(90^\\circ + x)', '-\\cos x'],
      ['\\tan 45^\\circ', '\\tan 45'],
      ['30^\\circ', '\\frac{\\pi}{6}'],
      ['\\sin(90^\\circ - x^\\circ)', '\\cos x'],
    ],
  },
  'products of complex exponentials': {
    equal: [
      ['e^{i\\pi/4} \\cdot e^{i\\pi/4}', 'i'],
      ['\\exp(i\\pi/2)\\exp(i\\pi/2)', '-1'],
      ['\\exp\\left(\\frac{i\\pi}{3}\\right) \\exp\\left(\\frac{i\\pi}{6}\\right)', 'i'],
      ['e^{i\\pi/3}e^{i\\pi/6}', '\\cos 90^\\circ + i\\sin 90^\\circ'],
      ['r_1 e^{i\\theta_1} \\cdot r_2 e^{i\\theta_2}', 'r_1 r_2 e^{i(\\theta_1+\\theta_2)}'],
      ['e^{i\\alpha} e^{i\\beta}', 'e^{i(\\alpha + \\beta)}'],
      ['2e^{i\\pi/6} \\cdot 3e^{i\\pi/3}', '6i'],
      ['\\operatorname{cis}(\\pi/3) \\operatorname{cis}(\\pi/6)', 'i'],
      ['\\text{cis}(30^\\circ) \\cdot \\text{cis}(60^\\circ)', 'i'],
      ['e^{i 30^\\circ} e^{i 60^{\\circ}}', 'i'],
      ['\\exp(i\\pi/4)^2', 'i'],
      ['e^{\\frac{\\pi i}{4}}e^{\\frac{\\pi i}{4}}', '\\operatorname{cis}\\frac{\\pi}{2}'],
    ],
    unequal: [
      ['e^{i\\pi/4} e^{i\\pi/4}', '-i'],
      ['\\exp(i\\pi/2)\\exp(i\\pi/2)', '1'],
      ['e^{i\\alpha}e^{i\\beta}', 'e^{i(\\alpha - \\beta)}'],
      ['e^{i\\pi/3}e^{i\\pi/6}', '\\cos 90^\\circ - i\\sin 90^\\circ'],
      ['r_1 e^{i\\theta_1} \\cdot r_2 e^{i\\theta_2}', 'r_1 r_2 e^{i(\\theta_1-\\theta_2)}'],
      ['\\operatorname{cis}(\\pi/3) \\operatorname{cis}(\\pi/6)', '-i'],
      ['e^{i 30^\\circ} e^{i 60^{\\circ}}', '-i'],
      ['e^{i 30^\\circ}', 'e^{30 i}'],
      ['\\exp(i\\pi/4)^2', '-i'],
    ],
  },
  'factorial identities': {
    equal: [
      ['n \\cdot (n-1)!', 'n!'],
      ['(n+1)! - n!', 'n \\cdot n!'],
      ['\\frac{(n+1)!}{n!}', 'n+1'],
      ['\\frac{n!}{(n-2)!}', 'n(n-1)'],
      ['(n+2)!', '(n+2)(n+1)n!'],
      ['\\frac{(2n)!}{(2n-1)!}', '2n'],
      ['(n+1)! + n!', '(n+2) n!'],
      ['\\frac{10!}{8!}', '90'],
      ['\\frac{n!}{k!(n-k)!}', '\\binom{n}{k}'],
      ['\\binom{n}{k}', '\\binom{n}{n-k}'],
    ],
    unequal: [
      ['n \\cdot (n-1)!', '(n+1)!'],
      ['(n+1)! - n!', 'n!'],
      ['\\frac{(n+1)!}{n!}', 'n'],
      ['\\frac{n!}{(n-2)!}', 'n(n-2)'],
      ['(2n)!', '2 n!'],
      ['\\frac{10!}{8!}', '80'],
      ['\\binom{n}{k}', '\\binom{n}{k+1}'],
      ['\\frac{n!}{k!(n-k)!}', '\\binom{n}{k-1}'],
    ],
  },
};

for (const [kind, { equal, unequal }] of Object.entries(kinds)) {
  describe(`equivalent: ${kind}`, () => {
    test('equal pairs, both ways', () => {
      for (const [pred, gold] of equal) {
        assert.equal(equivalent(pred, gold), true, `${JSON.stringify(pred)} should equal ${JSON.stringify(gold)}`);
        assert.equal(equivalent(gold, pred), true, `${JSON.stringify(gold)} should equal ${JSON.stringify(pred)}`);
      }
    });
    test('close but unequal pairs: no false "equal", both ways', () => {
      for (const [pred, gold] of unequal) {
        assert.equal(equivalent(pred, gold), false, `${JSON.stringify(pred)} should not equal ${JSON.stringify(gold)}`);
        assert.equal(equivalent(gold, pred), false, `${JSON.stringify(gold)} should not equal ${JSON.stringify(pred)}`);
      }
    });
  });
}

/** A solution text around a final answer, the way policies write one. */
const solution = (ending: string): string =>
  'We first note that the sum of the roots is $-b/a = 3$ and their product is $c/a = 2$, so the roots are $1$ and $2$.\n' +
  'Substituting back, $f(1) = 1 - 3 + 2 = 0$ checks out. Each of the 10 cases gives at most 4 options, which is 40 in all, ' +
  'and we subtract the 7 that repeat.\n\n' +
  ending;

/** [text, what extractAnswer gives]. */
const extractions: [text: string, answer: string][] = [
  [solution('Therefore the answer is $\\boxed{33}$.'), '33'],
  [solution('So $x = \\boxed{5}$, and the other root $\\boxed{7}$ is rejected.'), '7'],
  [solution('The answer is 33.'), '33'],
  [solution('The answer is $\\frac{1}{2}$.'), '$\\frac{1}{2}$'],
  [solution('Final Answer: The final answer is $(3,2)$. I hope it is correct.'), '$(3,2)$'],
  [solution('Final Answer: The final answer is 3.5. I hope it is correct.'), '3.5'],
  [solution('**Answer:** 42'), '42'],
  [solution('**Answer**: $x = 4$'), '$x = 4$'],
  [solution('**Final Answer**\n\n$\\frac{\\sqrt{3}}{2}$'), '$\\frac{\\sqrt{3}}{2}$'],
  [solution('Answer: B'), 'B'],
  [solution('#### 1,000'), '1,000'],
  [solution('The answer is 12.\n\n#### Step 3: check\nIt works.'), '12'],
  [solution('The answer is \\(\\frac{3}{4}\\). I hope it is correct.'), '\\(\\frac{3}{4}\\)'],
  [solution('The answer is \\$12.50. That is all.'), '\\$12.50'],
  [solution('The final answer is: $x \\in [1, 2]$.\n'), '$x \\in [1, 2]$'],
  ['3/4', '3/4'],
  ['all real numbers', 'all real numbers'],
];

describe('extractAnswer: the final answer of a solution text', () => {
  test('last \\boxed{}, "The answer is", "Final Answer: ...", "**Answer:**", "####"; a bare answer stays whole', () => {
    for (const [text, answer] of extractions) assert.equal(extractAnswer(text), answer, JSON.stringify(text.slice(-80)));
  });
});

/** Extraction cases graded: [whole solution as pred, short gold, equal?]. */
const extractionCases: [pred: string, gold: string, equal: boolean][] = [
  [solution('Therefore the answer is $\\boxed{33}$.'), '33', true],
  [solution('So the answer is $\\boxed{\\frac{1}{2}}$.'), '0.5', true],
  [solution('The answer is $\\boxed{x = 3}$.'), '3', true],
  [solution('Hence $\\boxed{(3, 2)}$.'), '(3,2)', true],
  [solution('Thus $k = \\boxed{-4}$ is the only value.'), '-4', true],
  [solution('We get $\\boxed{2}$ from the first case and $\\boxed{5}$ in the end.'), '5', true],
  [solution('The answer is 33.'), '33', true],
  [solution('The answer is $\\frac{1}{2}$.'), '\\frac12', true],
  [solution('So the answer is $10\\%$.'), '0.1', true],
  [solution('The answer is (B).'), 'B', true],
  [solution('Thus, the answer is: 1,000 dollars.'), '1000', true],
  [solution('Final Answer: The final answer is $(3,2)$. I hope it is correct.'), '(3,2)', true],
  [solution('Final Answer: The final answer is 3.5. I hope it is correct.'), '\\frac72', true],
  [solution('Final Answer: The final answer is $\\sin(90^\\circ - x)$. I hope it is correct.'), '\\cos x', true],
  [solution('Final Answer: The final answer is $y = -x/2 + 3/4$. I hope it is correct.'), '2x + 4y - 3 = 0', true],
  [solution('Final Answer: $|AB| = 1$'), '1', true],
  [solution('**Answer:** 42'), '42', true],
  [solution('**Answer:** $x \\geq 3$'), '[3, \\infty)', true],
  [solution('**Final Answer**\n\n$\\frac{\\sqrt{3}}{2}$'), '\\frac{1}{2}\\sqrt3', true],
  [solution('Answer: $\\{1, 2\\}$'), '2, 1', true],
  [solution('#### 18'), '18', true],
  [solution('The answer is \\(\\frac{3}{4}\\). I hope it is correct.'), '0.75', true],
  [solution('The answer is 12.\n\n#### Step 3: check\nIt works.'), '12', true],
  [solution('Answer: $x = 2$ and $y = 3$.'), '(2, 3)', false],
  [solution('The answers are $2$ and $-3$.'), '-3, 2', true],
  [solution('The answers are $2$ and $-3$.'), '3, 2', false],
  [solution('The final answer is $12,\\!000$.'), '12000', true],
  [solution('The final answer is $x^2 + 2x + 1$.'), '(x+1)^2', true],
  [solution('So the final answer is $-x > -1$.'), 'x < 1', true],
  [solution('Therefore the answer is $\\boxed{33}$.'), '34', false],
  [solution('The answer is $\\frac{1}{2}$.'), '2', false],
  [solution('Final Answer: The final answer is $(3,2)$. I hope it is correct.'), '(2,3)', false],
  [solution('Final Answer: The final answer is 3.5. I hope it is correct.'), '3', false],
  [solution('**Answer:** 42'), '4', false],
  [solution('The answer is (B).'), 'C', false],
  [solution('#### 18'), '1', false],
  [solution('So the final answer is $-x > -1$.'), 'x > 1', false],
  [solution('We get $\\boxed{2}$ from the first case and $\\boxed{5}$ in the end.'), '2', false],
  // no final answer marked: the solution's numbers (1, 2, 3, 40) are not taken for it
  [solution('That is all.'), '40', false],
  [solution('That is all.'), '3', false],
];

/** Short-answer cases of all kinds, mixed with ordinary ones: [pred, gold, equal?]. */
const shortCases: [pred: string, gold: string, equal: boolean][] = [
  ...Object.values(kinds).flatMap(({ equal, unequal }) => [
    ...equal.map(([p, g]): [string, string, boolean] => [p, g, true]),
    ...unequal.map(([p, g]): [string, string, boolean] => [p, g, false]),
  ]),
  ['\\frac{3}{4}', '0.75', true],
  ['\\dfrac{6}{8}', '\\frac34', true],
  ['-\\frac{2}{3}', '\\frac{-2}{3}', true],
  ['0.125', '\\frac18', true],
  ['2.50', '2.5', true],
  ['25\\%', '\\frac14', true],
  ['5\\text{ cm}', '5', true],
  ['12\\text{ inches}', '12', true],
  ['\\$ 7.50', '7.5', true],
  ['[2, 5)', '[2,5)', true],
  ['(-\\infty, -1) \\cup (1, \\infty)', 'x < -1 \\text{ or } x > 1', true],
  ['\\{3, 1, 2\\}', '\\{1,2,3\\}', true],
  ['\\begin{pmatrix} 2 & 0 \\\\ 0 & 2 \\end{pmatrix}', '\\begin{bmatrix}2&0\\\\0&2\\end{bmatrix}', true],
  ['2\\sqrt{2}', '\\sqrt{8}', true],
  ['x = \\pm 3', '3, -3', true],
  ['\\frac{3}{4}', '0.7', false],
  ['25\\%', '\\frac15', false],
  ['[2, 5)', '(2,5)', false],
  ['\\{3, 1, 2\\}', '\\{1,2\\}', false],
  ['\\begin{pmatrix} 2 & 0 \\\\ 0 & 2 \\end{pmatrix}', '\\begin{pmatrix}2&0\\\\0&3\\end{pmatrix}', false],
  ['2\\sqrt{2}', '\\sqrt{6}', false],
];

describe('equivalent on these tables: properties', () => {
  test('pure: the same verdicts in any order (the CAS scope drops what a comparison declared)', () => {
    const all = [...shortCases, ...extractionCases];
    const forward = all.map(([p, g]) => equivalent(p, g));
    const backward = [...all].reverse().map(([p, g]) => equivalent(p, g)).reverse();
    assert.deepEqual(backward, forward);
  });
});

/** Runs the table: counts, and the cases graded wrongly (false equal / false not equal). */
function measure(cases: [string, string, boolean][]) {
  const wrong = cases.filter(([p, g, eq]) => equivalent(p, g) !== eq);
  const falseEqual = wrong.filter(([, , eq]) => !eq);
  const equalPairs = cases.filter(([, , eq]) => eq).length;
  const right = cases.length - wrong.length;
  const summary =
    `${right}/${cases.length} right (${((100 * right) / cases.length).toFixed(1)}%): ` +
    `${equalPairs - (wrong.length - falseEqual.length)}/${equalPairs} equal pairs found equal, ` +
    `${cases.length - equalPairs - falseEqual.length}/${cases.length - equalPairs} unequal pairs found unequal, ${falseEqual.length} false equal`;
  return { total: cases.length, wrong, falseEqual, rate: right / cases.length, summary };
}

describe('measured rates', () => {
  test('short answers: >= 97% right, no false "equal"', () => {
    assert.ok(shortCases.length >= 60);
    const m = measure(shortCases);
    console.log(`short answers: ${m.summary}`);
    assert.deepEqual(m.falseEqual, []);
    assert.ok(m.rate >= 0.97, `wrong: ${JSON.stringify(m.wrong)}`);
  });

  test('answers extracted from a solution text: >= 90% right, no false "equal"', () => {
    assert.ok(extractionCases.length >= 30);
    const m = measure(extractionCases);
    console.log(`extraction from solution texts: ${m.summary}`);
    assert.deepEqual(m.falseEqual, []);
    assert.ok(m.rate >= 0.9, `wrong: ${JSON.stringify(m.wrong.map(([p, g, eq]) => [p.slice(-60), g, eq]))}`);
  });
});
