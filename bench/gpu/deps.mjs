// The packages a list of packages needs at run time, with their dependencies, as paths under
// node_modules/ (nested copies included), one a line: what bench/gpu/pack.sh copies.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const seen = new Set();
/** Where `name` resolves from the package at `from` (a node_modules path, or '' for the root). */
function locate(name, from) {
  for (let dir = from; ; dir = dirname(dirname(dir))) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === '' || dir === '.') return undefined;
  }
}
function visit(name, from) {
  const path = locate(name, from);
  if (path === undefined) throw new Error(`deps: ${name} (needed by ${from || 'the list'}) is not installed`);
  if (seen.has(path)) return;
  seen.add(path);
  const pkg = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, path);
  // optional dependencies are platform binaries and extras: taken only when installed
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) if (locate(dep, path)) visit(dep, path);
}
for (const name of process.argv.slice(2)) visit(name, '');
console.log([...seen].sort().join('\n'));
