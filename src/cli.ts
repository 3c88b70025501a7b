#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, type LoadedConfig } from './config/load.js';
import { MappingTableError } from './core/mapping-tables.js';
import { defaultErrorTables, defaultPresenceTables } from './mappings.js';
import { VERSION } from './version.js';

const HELP = `stox ${VERSION} — SIP/SIMPLE ⇄ XMPP federation gateway

Usage:
  stox --config FILE          run the gateway with the YAML config FILE
  stox check-config FILE      validate FILE; exit 0 when valid, else print every problem and exit 2
  stox subscriptions --config FILE
                              presence subscriptions of the instance at FILE's http.listen, as a
                              table; with no instance answering, read from FILE's store.path (read-only)
  stox sessions --config FILE live SIP subscription dialogs and XMPP component streams with their state
  stox peers --config FILE    peering policy per domain with live accepted/refused counters; with no
                              instance answering, the policy from FILE alone
  stox --version              print the version
  stox --help                 print this help

Environment:
  LOG_LEVEL                   overrides log.level (fatal, error, warn, info, debug, trace, silent)

Example config with every key documented: config/stox.example.yaml
`;

/** Loads FILE or prints every problem in it; undefined means "exit 2". */
function tryLoad(file: string): LoadedConfig | undefined {
  try {
    const loaded = loadConfigFile(file);
    // The mapping tables are part of what runs; a broken one must fail here, not at start.
    defaultErrorTables();
    defaultPresenceTables();
    return loaded;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${file}: invalid configuration\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
      return undefined;
    }
    if (err instanceof MappingTableError) {
      process.stderr.write(`mappings: invalid ${err.table}\n${err.issues.map((p) => `  ${p}`).join('\n')}\n`);
      return undefined;
    }
    throw err;
  }
}

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error (like most Unix tools). */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`stox: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;

  if (command === 'check-config') {
    const file = rest[0] ?? values.config;
    if (!file || rest.length > 1) {
      process.stderr.write('stox: usage: stox check-config FILE\n');
      return 2;
    }
    if (!tryLoad(file)) return 2;
    process.stdout.write(`${file}: OK\n`);
    return 0;
  }

  if (command === 'subscriptions' || command === 'sessions' || command === 'peers') {
    const file = values.config ?? rest[0];
    if (!file || rest.length > (values.config ? 0 : 1)) {
      process.stderr.write(`stox: usage: stox ${command} --config FILE\n`);
      return 2;
    }
    const loaded = tryLoad(file);
    if (!loaded) return 2;
    const { runAdminCommand } = await import('./ops/admin-cli.js');
    return runAdminCommand(command, loaded.config, { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
  }

  if (command !== undefined) {
    process.stderr.write(`stox: unknown command '${command}'\n\n${HELP}`);
    return 2;
  }
  if (!values.config) {
    process.stderr.write(`stox: --config FILE is required\n\n${HELP}`);
    return 2;
  }
  const loaded = tryLoad(values.config);
  if (!loaded) return 2;
  const { runGateway } = await import('./gateway.js');
  return runGateway(loaded);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`stox: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
