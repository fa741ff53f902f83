// The policy a stage runs with. An ONNX policy (onnx:DIR) runs in-process on the round's
// model dir. A server policy (openai:URL#MODEL) is served by the user's `serve` command:
// {model} is replaced by the round's weights dir, the command starts, and the stage begins
// once URL/models answers; the server stops when the stage ends, so training has the
// machine (and its GPU) to itself. The server's output goes to a log beside the stage's.
import { closeSync, openSync } from 'node:fs';
import { serverPolicy } from '../backends/options.js';
import { InputError } from '../errors.js';
import { shellQuote, spawnTied } from '../util/child.js';
import type { EvolveConfig } from './config.js';

/** The URL of an openai:URL#MODEL policy, or undefined for an onnx:DIR one. */
export function serverUrl(policy: string): string | undefined {
  return serverPolicy(policy)?.url;
}

/**
 * Runs `stage` with the policy spec for the weights in `dir`: onnx:DIR, or the config's
 * server policy while the serve command serves `dir` (its output appended to `log`).
 */
export async function withPolicy<T>(config: EvolveConfig, dir: string, log: string, stage: (policy: string) => Promise<T>): Promise<T> {
  const url = serverUrl(config.policy);
  if (url === undefined) return stage(`onnx:${dir}`);
  const line = config.serve!.replace(/\{model\}/g, shellQuote(dir));
  const fd = openSync(log, 'a');
  // exec: the server itself is the tied child, so it dies with rstar (PR_SET_PDEATHSIG)
  const child = spawnTied('/bin/sh', ['-c', `exec ${line}`], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => child.once('exit', (code, signal) => ((exited = signal ?? `exit ${code}`), resolve())));
  try {
    const deadline = Date.now() + config.serveTimeout * 1000;
    for (;;) {
      if (exited !== undefined) throw new InputError(`the serve command stopped (${exited}) before ${url}/models answered; its output is in ${log}`);
      if (Date.now() > deadline) throw new InputError(`${url}/models did not answer within ${config.serveTimeout} s of starting the serve command (serveTimeout); its output is in ${log}`);
      try {
        if ((await fetch(`${url}/models`, { signal: AbortSignal.timeout(2000) })).ok) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return await stage(config.policy);
  } finally {
    if (exited === undefined) {
      process.kill(-child.pid!, 'SIGTERM');
      const killed = setTimeout(() => exited === undefined && process.kill(-child.pid!, 'SIGKILL'), 10_000);
      await exit;
      clearTimeout(killed);
    }
  }
}
