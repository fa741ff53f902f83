// The ONNX PPM inside the search: a hidden-state export goes through the engine's fused
// head (native and reference engines), a score export through init_values; every scored
// node's stored value equals the PPM's own score of that trajectory.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ExportedNode, ExportedTree } from '../src/engine/export.js';
import { Search } from '../src/engine/search.js';
import type { Policy, StepRequest, Verdict, Verifier, VerifyRequest } from '../src/engine/backend.js';
import { OnnxPpm } from '../src/backends/onnx/ppm.js';
import { ExactGrader } from '../src/grade/exact-grader.js';

const models = new URL('./fixtures/models/', import.meta.url).pathname;

/** Two code steps per expansion until depth 3, then a right and a wrong answer. */
class CountingPolicy implements Policy {
  readonly name = 'counting';
  async generate(requests: StepRequest[]): Promise<string[][]> {
    return requests.map(({ steps }) => {
      const d = steps.length;
      if (d >= 3) return ['<answer>\\boxed{3}<end_of_answer>', '<answer>\\boxed{4}<end_of_answer>'];
      return [0, 1].map((j) => `${d === 0 ? '<code>\n' : ''}# Step ${d + 1}: try ${j}\nx${d} = ${j + d}\n<end_of_step>`);
    });
  }
}

/** Answers are the steps with \boxed; every other step is an open code step. */
class TextVerifier implements Verifier {
  readonly name = 'text';
  async verify(requests: VerifyRequest[]): Promise<Verdict[]> {
    return requests.map(({ step }) => {
      const m = /\\boxed\{([^}]*)\}/.exec(step);
      return m ? { kind: 'answer', answer: m[1]!, shown: step } : { kind: 'step', shown: step };
    });
  }
}

// One rollout in flight per tree: the trees do not depend on batch timing, so runs compare.
async function search(ppm: OnnxPpm, engine: 'native' | 'reference'): Promise<ExportedTree[]> {
  const trees: ExportedTree[] = [];
  const s = new Search(
    { rollouts: 6, n: 2, concurrency: 2, rolloutsInFlight: 1, engine, device: 'cpu' },
    { policy: new CountingPolicy(), ppm, verifier: new TextVerifier(), grader: new ExactGrader() },
    ({ tree }) => {
      trees.push(tree);
    },
  );
  async function* problems() {
    yield { id: 'a', problem: 'What is 1 + 2?', answer: '3' };
    yield { id: 'b', problem: 'What is 2 + 2?', answer: '4' };
  }
  await s.run(problems());
  return trees.sort((x, y) => x.id.localeCompare(y.id));
}

/** The trajectory to a node, as the search showed it to the PPM. */
function trajectory(t: ExportedTree, n: ExportedNode): string[] {
  const steps: string[] = [];
  for (let x: ExportedNode | undefined = n; x && x.parent >= 0; x = t.nodes[x.parent]) steps.unshift(x.step);
  return steps;
}

let hidden: OnnxPpm;
let score: OnnxPpm;
before(async () => {
  hidden = await OnnxPpm.open({ dir: join(models, 'ppm-hidden'), device: 'cpu', threads: 1 });
  score = await OnnxPpm.open({ dir: join(models, 'ppm-score'), device: 'cpu', threads: 1 });
});
after(async () => {
  await hidden.close();
  await score.close();
});

for (const engine of ['native', 'reference'] as const) {
  test(`${engine}: the fused head stores each open node's PPM score as its first visit`, async () => {
    const trees = await search(hidden, engine);
    let scored = 0;
    for (const t of trees) {
      for (const n of t.nodes) {
        if (n.parent < 0 || n.terminal !== null) {
          assert.equal(n.ppm, null, 'roots and terminals are not scored');
          continue;
        }
        assert.notEqual(n.ppm, null, `node ${n.id} of ${t.id} was scored`);
        const [expected] = await hidden.score([{ problem: { id: t.id, problem: t.problem, answer: t.answer }, steps: trajectory(t, n) }]);
        assert.equal(n.ppm, expected, 'the same float as the PPM computes alone');
        scored++;
      }
    }
    assert.ok(scored >= 8, `${scored} nodes scored`);
  });
}

test('native and reference engines grow the same trees with the fused head; a score export matches the hidden one', async () => {
  const native = await search(hidden, 'native');
  const reference = await search(hidden, 'reference');
  const strip = (ts: ExportedTree[]) => ts.map((t) => t.nodes.map((n) => [n.step, n.N, n.Q, n.ppm]));
  assert.deepEqual(strip(native), strip(reference));
  // ppm-score is the same weights exported with a score output: same values within float error
  const viaScore = await search(score, 'native');
  native.forEach((t, i) =>
    t.nodes.forEach((n, j) => {
      const other = viaScore[i]!.nodes[j]!;
      assert.equal(other.step, n.step);
      if (n.ppm === null) assert.equal(other.ppm, null);
      else assert.ok(Math.abs(other.ppm! - n.ppm) < 1e-5);
    }),
  );
});
