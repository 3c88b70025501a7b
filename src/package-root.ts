import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * The folder holding Stox's package.json. Code runs both from src/ (tests) and dist/src/ (the bin), so
 * data files (mappings/, package.json) are found by walking up rather than by a fixed relative path.
 */
export function findPackageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'mappings'))) return (cached = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the Stox package root (package.json beside mappings/)');
    dir = parent;
  }
}

/** Absolute path of a file shipped with the package, e.g. `mappings/errors.yaml`. */
export function packageFile(relative: string): string {
  return join(findPackageRoot(), relative);
}
