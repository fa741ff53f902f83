#!/usr/bin/env node
// The rstar command line. This file only makes sure the process runs with the malloc settings
// of malloc.ts, then loads the commands; it imports nothing heavy, so a second start is cheap.
import { restartWithMallocTunables } from '../util/malloc.js';

if (!restartWithMallocTunables()) await import('./commands.js');
