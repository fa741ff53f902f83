// What the search asks of its backends: a policy that writes candidate steps, an optional
// PPM that scores them, a verifier that classifies them (and says what each shows in the next
// prompt), and a grader that checks final answers. Every call serves a whole batch.
import type { Problem } from '../io/problems.js';
import type { PpmHead } from './head.js';

/** Generate `n` candidate next steps for a trajectory: the problem and the steps so far. */
export interface StepRequest {
  problem: Problem;
  /** the steps from the root to the node being expanded, in order */
  steps: readonly string[];
  n: number;
}

/** A request the policy will not run, and why: e.g. "prompt too long: 5000 tokens > 2047". */
export interface Refused {
  refused: string;
}

/** A step generator. One call serves a whole batch of requests. */
export interface Policy {
  readonly name: string;
  /** For each request, at most `n` candidate steps (each in the rStar step format). */
  generate(requests: StepRequest[]): Promise<string[][]>;
  /**
   * generate(), where a request the model cannot take (a prompt longer than its context)
   * is answered with why instead of failing the batch: the search then ends that problem's
   * tree with the reason. The search calls this one when a policy has it.
   */
  generateOrRefuse?(requests: StepRequest[]): Promise<(string[] | Refused)[]>;
}

export interface ScoreRequest {
  problem: Problem;
  /** the trajectory up to and including the step to score */
  steps: readonly string[];
}

/** A process preference model: one score in [-1, 1] per step (tanh(r / 5) for a real PPM). */
export interface Ppm {
  readonly name: string;
  score(requests: ScoreRequest[]): Promise<number[]>;
  /**
   * A PPM that outputs hidden states sets `head` and `hidden`: the search then scores with
   * the tree engine's fused step (the head applied and the value written in one call).
   */
  readonly head?: PpmHead | undefined;
  /** the last hidden state of each request's step, [requests, head.weight.length] */
  hidden?(requests: ScoreRequest[]): Promise<Float32Array>;
  /**
   * score() and hidden(), where a request the model cannot take (longer than its context) is
   * answered with why (a refused request's hidden row is zero): the search ends that
   * problem's tree with the reason. The search calls these when a PPM has them.
   */
  scoreOrRefuse?(requests: ScoreRequest[]): Promise<(number | Refused)[]>;
  hiddenOrRefuse?(requests: ScoreRequest[]): Promise<{ hidden: Float32Array; refused: (Refused | undefined)[] }>;
}

/** What a step turned out to be: more reasoning, a final answer, code that failed, or unreadable. */
export type StepKind = 'step' | 'answer' | 'error' | 'invalid';

export interface Verdict {
  kind: StepKind;
  /** the step as the next step's prompt shows it (the rStar format: with its output when it closes a code block) */
  shown: string;
  /** the execution output (an error's message), when there is one */
  output?: string;
  /** why: the executor's error kind (timeout, sandbox...) or the invalid step's reason */
  why?: string;
  /** the final answer (the last \boxed{...}) of an answer step */
  answer?: string;
}

export interface VerifyRequest {
  problem: Problem;
  /** the trajectory before the step */
  steps: readonly string[];
  step: string;
}

/** Checks candidate steps (the real one runs their Python code); one call serves a batch. */
export interface Verifier {
  readonly name: string;
  verify(requests: VerifyRequest[]): Promise<Verdict[]>;
  /** The problem's tree is done: state kept for it (saved interpreter states) can go. */
  forget?(problemId: string): void;
}

export interface GradeRequest {
  answer: string;
  gold: string;
}

/** Decides whether final answers match the gold answers. */
export interface Grader {
  readonly name: string;
  grade(requests: GradeRequest[]): Promise<boolean[]>;
}

/** What one search runs with. */
export interface SearchBackends {
  policy: Policy;
  /** none: round-1 search, values come from graded answers alone */
  ppm?: Ppm;
  verifier: Verifier;
  grader: Grader;
}
