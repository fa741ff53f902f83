// The tree-engine benchmark as a script: `node --import tsx bench/tree.ts [--trees N ...]`.
// Same code and flags as `rstar bench tree`; prints native vs reference sims/s and the ratio.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { benchTree, benchTreeOptions } from '../src/cli/bench.js';

benchTree(await benchTreeOptions(yargs(hideBin(process.argv))).strict().parseAsync());
