import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type StoxConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** `sip.listen[1]` style, the way an operator reads their YAML. */
export function formatKeyPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    // Map keys such as domain names contain dots; quote them so the path reads back unambiguously.
    else if (/[^A-Za-z0-9_]/.test(String(part))) out += `[${JSON.stringify(String(part))}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(top level)';
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function issueToProblem(issue: z.core.$ZodIssue, raw: unknown): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${formatKeyPath([...issue.path, k])}: unknown key`).join('\n');
  }
  const where = formatKeyPath(issue.path);
  const got = valueAt(raw, issue.path);
  if (issue.code === 'invalid_type' && got === undefined) return `${where}: required`;
  // Messages that already quote the offending value (listen URLs) need no second "got".
  const message = issue.message.includes(', got ') ? issue.message : `${issue.message}, got ${describeValue(got)}`;
  return `${where}: ${message}`;
}

/** Validate already-parsed YAML; every problem is reported, not just the first. */
export function validateConfig(raw: unknown): StoxConfig {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.flatMap((i) => issueToProblem(i, raw).split('\n')));
}

export interface LoadedConfig {
  config: StoxConfig;
  path: string;
}

/** Read, parse and validate a config file; relative paths inside it (TLS files) resolve from its folder. */
export function loadConfigFile(path: string): LoadedConfig {
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError([`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${path}: YAML ${e.message.split('\n')[0]}`));
  }
  const config = validateConfig(doc.toJS());
  const base = dirname(abs);
  if (config.store.path !== ':memory:') config.store.path = resolve(base, config.store.path);
  if (config.sip.tls) {
    const t = config.sip.tls;
    t.cert = resolve(base, t.cert);
    t.key = resolve(base, t.key);
    if (t.ca) t.ca = resolve(base, t.ca);
    const missing = (['cert', 'key', 'ca'] as const)
      .filter((k) => t[k] !== undefined && !existsSync(t[k]!))
      .map((k) => `sip.tls.${k}: file not found: ${t[k]}`);
    if (missing.length > 0) throw new ConfigError(missing);
  }
  return { config, path: abs };
}
