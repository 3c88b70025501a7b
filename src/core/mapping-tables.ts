/**
 * Loading and validating the operator-tunable tables in `mappings/` (DESIGN.md: "Mapping tables are
 * data"). Parsing and validation are pure (text in, typed value or MappingTableError out); the files are
 * read by src/mappings.ts, outside the core.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';

/** A table that failed to parse or validate; `issues` are "key.path: message" strings. */
export class MappingTableError extends Error {
  readonly table: string;
  readonly issues: readonly string[];

  constructor(table: string, issues: readonly string[]) {
    super(`invalid ${table}: ${issues.join('; ')}`);
    this.name = 'MappingTableError';
    this.table = table;
    this.issues = issues;
  }
}


/** Render a zod path as the dotted key path an operator sees in the YAML. */
function keyPath(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join('.');
}

export interface IssueLike {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
  readonly issues?: readonly IssueLike[];
}

/** zod issues → "key.path: message" lines; record-key and unknown-key issues get the key in the path. */
export function formatTableIssues(issues: readonly IssueLike[], prefix: readonly PropertyKey[] = []): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys' && issue.keys) {
      for (const k of issue.keys) out.push(`${keyPath([...path, k])}: unknown key`);
    } else if (issue.code === 'invalid_key' && issue.issues && issue.issues.length > 0) {
      for (const inner of issue.issues) out.push(`${keyPath(path)}: ${inner.message}`);
    } else {
      out.push(path.length > 0 ? `${keyPath(path)}: ${issue.message}` : issue.message);
    }
  }
  return out;
}

/** Parse YAML text and validate it against `schema`; every problem is reported with its key path. */
export function parseMappingTable<T>(yamlText: string, schema: z.ZodType<T>, table: string): T {
  let data: unknown;
  try {
    // uniqueKeys (the default) matters: a duplicated row in a table is an operator mistake, not an override.
    data = parseYaml(yamlText, { uniqueKeys: true, prettyErrors: true });
  } catch (e) {
    const msg = e instanceof YAMLParseError || e instanceof Error ? e.message : String(e);
    throw new MappingTableError(table, [`YAML: ${msg}`]);
  }
  const result = schema.safeParse(data);
  if (!result.success) throw new MappingTableError(table, formatTableIssues(result.error.issues as readonly IssueLike[]));
  return result.data;
}
