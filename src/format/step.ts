// The rStar-Math step format: what the policy writes and the verifier reads.
//
//   <code>
//   # Step 1: reasoning as a comment
//   python code
//   <end_of_step>
//   # Step 2 ...
//   <end_of_step>
//   # Now print the final answer
//   print(x)
//   <end_of_code>
//   <output>...<end_of_output>          (written by the executor, not the policy)
//   <answer>... \boxed{...}<end_of_answer>
//
// Each policy call writes one step, up to and including a stop string. A step holding
// \boxed is a final answer; any other is code. The code of one block (from <code> to
// <end_of_code>) runs as one program: each step's code runs together with the earlier
// steps of its block, as the authors' executor does, and only the block's last step (the
// one ending in <end_of_code>) has its output put into the context.

export const codeStart = '<code>';
export const stepEnd = '<end_of_step>';
export const codeEnd = '<end_of_code>';
export const outputStart = '<output>';
export const outputEnd = '<end_of_output>';
export const answerStart = '<answer>';
export const answerEnd = '<end_of_answer>';
/** The policy's stop strings. */
export const stopStrings = [stepEnd, codeEnd, answerEnd] as const;

/** Why a step cannot be used; such steps become invalid terminals, never silently dropped. */
export type InvalidReason =
  /** nothing but markers and blanks */
  | 'empty'
  /** a code step that ends in none of the stop strings (cut off by the token limit) */
  | 'unterminated'
  /** \boxed{ without its closing brace */
  | 'unbalanced_boxed'
  /** \boxed{} with nothing in it */
  | 'empty_answer'
  /** the policy wrote the executor's <output> block itself */
  | 'forged_output';

export type ParsedStep =
  /** code: this step's program text (comments kept); endsCode: it closes its block */
  | { kind: 'code'; code: string; endsCode: boolean }
  | { kind: 'answer'; answer: string }
  | { kind: 'invalid'; reason: InvalidReason };

/** The content of the last balanced \boxed{...} in text, or undefined. */
export function lastBoxed(text: string): string | undefined {
  const at = text.lastIndexOf('\\boxed{');
  if (at < 0) return undefined;
  const start = at + '\\boxed{'.length;
  const end = closingBrace(text, start);
  return end < 0 ? undefined : text.slice(start, end);
}

/** The index of the brace closing the group that starts at `start`, or -1. */
function closingBrace(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') i++; // \{ and \} are literal braces
    else if (ch === '{') depth++;
    else if (ch === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/** \text{...} unwrapped to its content (the authors strip it from answers). */
export function stripText(s: string): string {
  let out = s;
  for (let at = out.indexOf('\\text{'); at >= 0; at = out.indexOf('\\text{', at)) {
    const start = at + '\\text{'.length;
    const end = closingBrace(out, start);
    if (end < 0) break;
    out = out.slice(0, at) + out.slice(start, end) + out.slice(end + 1);
  }
  return out.trim();
}

export function parseStep(text: string): ParsedStep {
  if (text.includes('\\boxed')) {
    const boxed = lastBoxed(text);
    if (boxed === undefined) return { kind: 'invalid', reason: 'unbalanced_boxed' };
    const answer = stripText(boxed);
    return answer === '' ? { kind: 'invalid', reason: 'empty_answer' } : { kind: 'answer', answer };
  }
  const body = text.trimEnd();
  const endsCode = body.endsWith(codeEnd);
  if (!endsCode && !body.endsWith(stepEnd)) return { kind: 'invalid', reason: 'unterminated' };
  if (text.includes(outputStart)) return { kind: 'invalid', reason: 'forged_output' };
  const code = stepCode(text);
  if (code.trim() === '') return { kind: 'invalid', reason: 'empty' };
  return { kind: 'code', code, endsCode };
}

/**
 * A step's lines of code: the <code> marker's line and the stop strings dropped, nothing
 * after <end_of_code> (the authors' extract_program, per step). Ends with a newline.
 */
export function stepCode(text: string): string {
  const lines: string[] = [];
  for (const line of text.replaceAll(stepEnd, '').split('\n')) {
    const end = line.indexOf(codeEnd);
    if (end >= 0) {
      if (line.slice(0, end).trim()) lines.push(line.slice(0, end));
      break;
    }
    if (!line.includes(codeStart)) lines.push(line);
  }
  while (lines.length > 0 && lines[0]!.trim() === '') lines.shift();
  while (lines.length > 0 && lines.at(-1)!.trim() === '') lines.pop();
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** Whether a step closes its code block (its output goes into the context). */
export function closesBlock(text: string): boolean {
  return text.includes(codeEnd);
}

/**
 * The program a new code step runs: the code of the earlier steps of its block (after the
 * last step that closed a block) and its own. blockStart: where that block starts in steps.
 */
export function blockProgram(steps: readonly string[], code: string): { program: string; blockStart: number } {
  let start = steps.length;
  while (start > 0 && !closesBlock(steps[start - 1]!)) start--;
  let program = '';
  for (let i = start; i < steps.length; i++) program += stepCode(steps[i]!);
  return { program: program + code, blockStart: start };
}

/** The executor's output block as the context shows it. */
export function renderOutput(output: string): string {
  return `${outputStart}${output}${outputEnd}`;
}

export interface TrajectoryStep {
  /** what the policy wrote, its stop string included */
  text: string;
  /** for a step that closes a code block: the program's output */
  output?: string;
}

/** A step as the next step's context shows it: its text, then its output when it closes a code block. */
export function shownStep(text: string, output: string | undefined): string {
  return output !== undefined && closesBlock(text) ? `${text}\n${renderOutput(output)}\n` : text;
}

/** The solution text a policy continues from: steps in order, each block's output after it. */
export function renderTrajectory(steps: readonly TrajectoryStep[]): string {
  let out = '';
  for (const s of steps) out += shownStep(s.text, s.output);
  return out;
}

/**
 * Splits a whole solution into the steps a policy would have written and the outputs the
 * executor added: the inverse of renderTrajectory. Text after the last stop string (a step
 * cut off) is a last step of its own.
 */
export function splitTrajectory(solution: string): TrajectoryStep[] {
  const steps: TrajectoryStep[] = [];
  let at = 0;
  while (at < solution.length) {
    let end = -1;
    let stop = '';
    for (const s of stopStrings) {
      const i = solution.indexOf(s, at);
      if (i >= 0 && (end < 0 || i < end)) {
        end = i;
        stop = s;
      }
    }
    if (end < 0) {
      steps.push({ text: solution.slice(at) });
      break;
    }
    const step: TrajectoryStep = { text: solution.slice(at, end + stop.length) };
    at = end + stop.length;
    if (stop === codeEnd) {
      const open = `\n${outputStart}`;
      if (solution.startsWith(open, at)) {
        const close = solution.indexOf(`${outputEnd}\n`, at + open.length);
        if (close >= 0) {
          step.output = solution.slice(at + open.length, close);
          at = close + outputEnd.length + 1;
        }
      }
    }
    steps.push(step);
  }
  return steps;
}
