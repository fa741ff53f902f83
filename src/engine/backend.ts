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

/** A request a model will not run, and why: e.g. "prompt too long: 5000 tokens > 2047". */
export interface Refused {
  refused: string;
}

export function isRefused(x: unknown): x is Refused {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && typeof (x as Refused).refused === 'string';
}

/** The results of a batch none of which may be refused (a caller outside the search): a refusal throws, naming its problem. */
export function accepted<T>(who: string, requests: readonly { problem: { id: string } }[], results: readonly (T | Refused)[]): T[] {
  return results.map((x, i) => {
    if (isRefused(x)) throw new Error(`${who}: problem ${requests[i]!.problem.id}: ${x.refused}`);
    return x;
  });
}

/** A step generator. One call serves a whole batch of requests. */
export interface Policy {
  readonly name: string;
  /**
   * For each request, at most `n` candidate steps (each in the rStar step format), or why
   * the model will not take it (a prompt longer than its context): the search then ends
   * that problem's tree with the reason instead of failing the batch.
   */
  generate(requests: StepRequest[]): Promise<(string[] | Refused)[]>;
  /** The problem's tree is done: state kept for it (its server placement) can go. */
  forget?(problemId: string): void;
}

export interface ScoreRequest {
  problem: Problem;
  /** the trajectory up to and including the step to score */
  steps: readonly string[];
}

/** A process preference model: one score in [-1, 1] per step (tanh(r / 5) for a real PPM). */
export interface Ppm {
  readonly name: string;
  /** A score per request, or why the model will not take it (longer than its context): the search ends that problem's tree with the reason. */
  score(requests: ScoreRequest[]): Promise<(number | Refused)[]>;
  /**
   * A PPM that outputs hidden states sets `head` and `hidden`: the search then scores with
   * the tree engine's fused step (the head applied and the value written in one call).
   */
  readonly head?: PpmHead | undefined;
  /** the last hidden state of each request's step, [requests, head.weight.length]; a refused request's row is zero and `refused` says why (it may be empty when none is) */
  hidden?(requests: ScoreRequest[]): Promise<{ hidden: Float32Array; refused: (Refused | undefined)[] }>;
  /** The problem's tree is done: state kept for it (its server placement) can go. */
  forget?(problemId: string): void;
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
