// `rstar serve`: an ONNX policy behind the OpenAI completions API (src/serve/openai.ts), for
// `rstar evolve`'s server policies and for anyone who wants the engine's decoding over HTTP.
// Runs until SIGINT or SIGTERM.
import { basename, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { OnnxPolicy } from '../backends/onnx/policy.js';
import { UsageError } from '../errors.js';
import { serveOpenAI } from '../serve/openai.js';

export function serveOptions(y: Argv) {
  return y
    .option('policy', { type: 'string', default: `onnx:${new URL('../../models/policy', import.meta.url).pathname}`, describe: 'the policy to serve: onnx:DIR' })
    .option('model-name', { type: 'string', describe: 'the name clients ask for (default: the model dir\'s name)' })
    .option('host', { type: 'string', default: '127.0.0.1' })
    .option('port', { type: 'number', default: 8000, describe: 'TCP port (0: any free one; the URL is printed)' })
    .option('threads', { type: 'number', default: 0, describe: 'ONNX Runtime threads (0: its default, all cores)' })
    .option('cache-mb', { type: 'number', default: 1024, describe: "MB of prefixes' KV kept for reuse" })
    .option('batch-rows', { type: 'number', default: 128, describe: 'most sequences decoded together' })
    .option('seed', { type: 'number', describe: 'sampling seed for requests that give none' });
}

type ServeArgs = Awaited<ReturnType<ReturnType<typeof serveOptions>['parseAsync']>>;

export async function serve(args: ServeArgs): Promise<void> {
  const onnx = /^onnx:(.+)$/.exec(args.policy);
  if (!onnx) throw new UsageError(`serve: --policy must be onnx:DIR (got ${args.policy})`);
  const dir = resolve(onnx[1]!);
  if (!(Number.isInteger(args.port) && args.port >= 0 && args.port < 65536)) throw new UsageError(`serve: --port must be an integer in 0..65535 (got ${args.port})`);
  const policy = await OnnxPolicy.open({ dir, device: 'auto', threads: args.threads, cacheBytes: Math.round(args['cache-mb'] * 2 ** 20), batchRows: args['batch-rows'], seed: args.seed });
  const model = args['model-name'] ?? basename(dir);
  const server = await serveOpenAI(policy, { model, host: args.host, port: args.port });
  console.error(`rstar: serving ${dir} as "${model}" at ${server.url} (${policy.stats().provider} provider)`);
  const signal = await new Promise<NodeJS.Signals>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  console.error(`rstar: ${signal}: stopping the server`);
  server.closeAllConnections();
  await new Promise<void>((done) => server.close(() => done()));
  await policy.close();
}
