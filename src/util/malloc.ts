// glibc hands large freed blocks back to the kernel (munmap, heap trim) and maps them again
// on the next allocation. A search allocates large tensors at every decode step (ONNX Runtime's
// KV outputs, their copies into JS), so each step page-faulted them in afresh; in VMs that
// return freed pages to the host that was most of the run: 100% system time with 32 problems
// in flight, 1.47x slower with 8 (npm run bench:malloc, bench/RESULTS.md). The CLI applies the
// settings in place at start (mallopt through the addon): no second process that could outlive
// a kill -9 of the first. The trainer sets the same through GLIBC_TUNABLES.
import { requireAddon } from './addon.js';

/** set to 1 to keep the process's own malloc settings */
export const KEEP_MALLOC_ENV = 'RSTAR_KEEP_MALLOC';

/** No mmap for large blocks, no heap trimming, from now on. True when applied. */
export function tuneMalloc(env: NodeJS.ProcessEnv = process.env): boolean {
  // opted out, or the user chose their own mmap settings
  if (process.platform !== 'linux' || env[KEEP_MALLOC_ENV] === '1' || env['GLIBC_TUNABLES']?.includes('glibc.malloc.mmap_max')) return false;
  return (requireAddon() as { tuneMalloc(): boolean }).tuneMalloc();
}
