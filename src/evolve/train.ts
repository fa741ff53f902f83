// evolve's train stage: the policy from the round's SFT examples, then the PPM from its pairs,
// initialised from that new policy. Two trainers, one contract: given data, a base model dir
// and an out dir, write the out dir whole (or not at all) and exit 0.
// - builtin: trainer/train.py (trainer/README.md, "Trainer contract"); it checkpoints and
//   resumes itself (--resume), so a killed round continues its training where it stopped;
// - command: the user's own shell command, with {data}, {base} and {out} replaced (quoted).
// A finished out dir is never trained again: that is how a rerun skips it.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, Interrupted } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { runTied, shellQuote } from '../util/child.js';
import type { EvolveConfig } from './config.js';

export interface TrainTask {
  /** a reviewer is a PPM trained as a language model on SFT examples, the roles swapped */
  kind: 'policy' | 'ppm' | 'reviewer';
  /** the builtin trainer's JSONL files: SFT examples {query, response} (policy, reviewer) or pairs {prompt, chosen, rejected, ...} (PPM) */
  data: string[];
  /** the same data in the ecosystem's rows, for a command trainer: {prompt, completion} (policy) or {prompt, chosen, rejected} (PPM) */
  rows: string;
  /** held-out JSONL of the same kind, measured by the trainer (builtin only) */
  evalData?: string;
  /** the model dir to start from */
  base: string;
  /** the model dir to write */
  out: string;
  /** where the task's config goes */
  dir: string;
}

const trainScript = fileURLToPath(new URL('../../trainer/train.py', import.meta.url));

/** Trains unless `out` is already there; returns the trainer's metrics.json (builtin) or {}. */
export async function train(config: EvolveConfig, task: TrainTask): Promise<Record<string, unknown>> {
  if (!existsSync(task.out)) {
    await mkdir(task.dir, { recursive: true });
    const exit = config.trainer === 'builtin' ? await builtin(config, task) : await command(config, task);
    if (exit.signal !== null || exit.code === 130 || exit.code === 143) {
      const signal = exit.signal ?? (exit.code === 130 ? 'SIGINT' : 'SIGTERM');
      throw new Interrupted(`the ${task.kind} trainer stopped (${signal}); run the same command again to resume its training`, signal);
    }
    if (exit.code === 3) throw new InputError(`the builtin trainer needs torch: apt-get install -y --no-install-recommends python3-torch python3-onnx libopenblas0-pthread (or set "python")`);
    if (exit.code !== 0) throw new InputError(`the ${task.kind} trainer failed (exit ${exit.code}; its message is above)`);
    if (!existsSync(task.out)) throw new InputError(`the ${task.kind} trainer exited 0 but wrote no ${task.out}`);
  }
  const metrics = join(task.out, 'metrics.json');
  return existsSync(metrics) ? (JSON.parse(readFileSync(metrics, 'utf8')) as Record<string, unknown>) : {};
}

async function builtin(config: EvolveConfig, task: TrainTask) {
  const file = join(task.dir, `${task.kind}.json`);
  const fields = task.kind === 'policy' ? config.trainPolicy : config.trainPpm;
  // absolute paths: train.py reads relative ones from the config's own directory
  await writeJsonAtomic(file, {
    task: task.kind === 'ppm' ? 'ppm' : 'sft',
    ...(task.kind === 'reviewer' ? { reviewer: true } : {}),
    base: task.base,
    data: task.data,
    ...(task.evalData !== undefined ? { eval_data: [task.evalData] } : {}),
    out: task.out,
    ...fields,
  });
  return runTied(config.python, [trainScript, file, '--resume']);
}

async function command(config: EvolveConfig, task: TrainTask) {
  const template = (task.kind === 'policy' ? config.policyCommand : config.ppmCommand)!;
  const values: Record<string, string> = { data: task.rows, base: task.base, out: task.out };
  const line = template.replace(/\{(data|base|out)\}/g, (_, k: string) => shellQuote(values[k]!));
  return runTied('/bin/sh', ['-c', line]);
}

