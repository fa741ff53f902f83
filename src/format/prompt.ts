// The text a model continues: a template around the question, then the trajectory so far.
// The default is plain (question, blank line, steps); a model trained with a chat template
// takes it through --prompt-template or its config.json's "rstar_prompt_template".
import type { Problem } from '../io/problems.js';
import { UsageError } from '../errors.js';

export const defaultPromptTemplate = '{problem}\n\n';

export function validateTemplate(template: string, where: string): void {
  if (!template.includes('{problem}')) throw new UsageError(`${where}: a prompt template must contain {problem} (got ${JSON.stringify(template)})`);
}

/**
 * The prompt in pieces: the templated question, then one piece per step. Models encode
 * each piece on its own so that a child's tokens start with its parent's tokens exactly
 * (prefix reuse); every step ends with a stop token, where a tokenizer splits anyway.
 */
export function promptSegments(template: string, problem: Problem, steps: readonly string[]): string[] {
  return [template.replaceAll('{problem}', problem.problem), ...steps];
}

export function renderPrompt(template: string, problem: Problem, steps: readonly string[]): string {
  return promptSegments(template, problem, steps).join('');
}

/** The template a model runs with: the one given, else its config.json's, else the plain one. */
export function modelTemplate(given: string | undefined, config: Record<string, unknown>, who: string, dir: string): string {
  const configured = config['rstar_prompt_template'];
  const template = given ?? (typeof configured === 'string' ? configured : defaultPromptTemplate);
  validateTemplate(template, given !== undefined ? who : `${dir}/config.json`);
  return template;
}
