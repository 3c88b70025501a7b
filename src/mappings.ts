import { readFileSync } from 'node:fs';
import { loadErrorTables, type ErrorTables } from './core/errors.js';
import { loadPresenceTables, type PresenceTables } from './core/presence.js';
import { packageFile } from './package-root.js';

/**
 * The tables shipped in mappings/, read from disk here so src/core stays free of I/O (DESIGN.md): the
 * core only parses and validates the text it is given.
 */
export function readPackageFile(relative: string): string {
  return readFileSync(packageFile(relative), 'utf8');
}

export function defaultErrorTables(): ErrorTables {
  return loadErrorTables(readPackageFile('mappings/errors.yaml'));
}

export function defaultPresenceTables(): PresenceTables {
  return loadPresenceTables(readPackageFile('mappings/rpid-show.yaml'));
}
