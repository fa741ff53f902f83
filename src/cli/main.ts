#!/usr/bin/env node
// The rstar command line: glibc's malloc settings first (malloc.ts), then the commands.
import { tuneMalloc } from '../util/malloc.js';

try {
  tuneMalloc();
} catch {
  // no addon: the commands that need it say how to build it
}
await import('./commands.js');
