import { ConfigError, validateConfig } from '../../src/config/load.js';

/** Every problem `validateConfig` reports for `raw` (each prefixed with its key path); none for a valid one. */
export function configProblems(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}
