import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageFile } from '../src/package-root.js';
import { freeUdpTcpPort, tcpAccepts, udpPortBound } from './ports.js';
import { start, tempDir, type Started } from './processes.js';
import { runSipp, SCENARIOS, type SippRun } from './sipp.js';

export { freeUdpTcpPort };

/**
 * A real Kamailio 5.6 for presence integration tests and the demo: the SIP domain's registrar, proxy and presence
 * server (presence + presence_xml on db_text), on 127.0.0.1 only, with everything in a temp directory.
 * Requests for the XMPP domains are relayed to Stox's numeric address; other foreign domains get 403,
 * so Kamailio never looks anything up in DNS. See peers/kamailio.cfg.tmpl.
 */

export interface SipHostPort {
  host: string;
  port: number;
}

export interface KamailioOptions {
  /** The SIP domain Kamailio serves (its alias), e.g. 'sip.test'. */
  domain: string;
  /** Domains whose requests are relayed to Stox, e.g. ['xmpp.test']. */
  xmppDomains: string[];
  /** Where Stox listens (numeric host). A function is called at every (re)start, unless setStox() was used. */
  stox: SipHostPort | (() => SipHostPort);
  /** Use this directory instead of a fresh temp dir (kept afterwards). */
  dir?: string;
  /**
   * 'server' (default): Kamailio is the presence server for its domain (handle_publish/handle_subscribe).
   * 'proxy': PUBLISH/SUBSCRIBE for its users are proxied, record-routed, to their registered UA.
   */
  presence?: 'server' | 'proxy';
  /** Kamailio's log level (`debug`): 1 warnings, 2 info (default, logs every NOTIFY it sends), 3 debug. */
  logLevel?: number;
  /** Shared memory in MB (`-m`), default 256. */
  sharedMemoryMb?: number;
}

export interface KamailioInstance {
  /** UDP and TCP port on 127.0.0.1 (the same number for both; kept across restarts). */
  readonly port: number;
  readonly domain: string;
  readonly dir: string;
  /** Pid of the Kamailio main process currently running (-1 when stopped; changes on restart). */
  readonly pid: number;
  /** `127.0.0.1:PORT`, for sipp's remote host argument. */
  readonly target: string;
  /** Everything Kamailio printed (it logs to stderr) since it was last started (kept after stop()). */
  output(): string;
  /** Stops Kamailio (main process and its children); the directory stays for restart(). */
  stop(): Promise<void>;
  /**
   * Stops if running and starts again on the same port. The db_text tables are copied fresh unless
   * `keepState` (then the presentities and subscriptions Kamailio flushed at shutdown are reloaded).
   */
  restart(opts?: { keepState?: boolean }): Promise<void>;
  /** Points the XMPP domains at another Stox address without a restart (htable via kamcmd); kept across restarts. */
  setStox(addr: SipHostPort): Promise<void>;
  /** Runs one RPC command through kamcmd on this instance's control socket; resolves with its output. */
  rpc(method: string, ...args: string[]): Promise<string>;
  /** Stops and removes the temp directory (unless `dir` was given). */
  dispose(): Promise<void>;
}

// From the package root: tsc does not copy the template next to dist/peers/kamailio.js.
export const KAMAILIO_TEMPLATE = packageFile('peers/kamailio.cfg.tmpl');

function firstExisting(paths: string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

export const KAMAILIO_BIN = process.env.KAMAILIO_BIN ?? firstExisting(['/usr/sbin/kamailio', '/usr/local/sbin/kamailio']) ?? 'kamailio';
const KAMCMD_BIN = process.env.KAMCMD_BIN ?? firstExisting(['/usr/sbin/kamcmd', '/usr/local/sbin/kamcmd']) ?? 'kamcmd';
/** Debian's db_text table files (their first line is the schema). */
const DBTEXT_SOURCE = process.env.KAMAILIO_DBTEXT ?? '/usr/share/kamailio/dbtext/kamailio';
const PRESENCE_TABLES = ['version', 'presentity', 'active_watchers', 'watchers', 'xcap', 'pua'];

function modulesPath(): string {
  if (process.env.KAMAILIO_MODULES) return process.env.KAMAILIO_MODULES;
  const candidates = ['/usr/lib/kamailio/modules', '/usr/local/lib64/kamailio/modules', '/usr/local/lib/kamailio/modules'];
  for (const entry of existsSync('/usr/lib') ? readdirSync('/usr/lib') : []) candidates.unshift(join('/usr/lib', entry, 'kamailio', 'modules'));
  const found = candidates.find((p) => existsSync(join(p, 'presence.so')));
  if (found === undefined) throw new Error('Kamailio modules with presence.so not found: install kamailio and kamailio-presence-modules');
  return found;
}

/** Whether Kamailio's presence modules are installed (Debian kamailio-presence-modules). */
export function presenceModulesInstalled(): boolean {
  try {
    modulesPath();
    return true;
  } catch {
    return false;
  }
}

/**
 * Copies the presence tables fresh into `dbDir`. db_text has no column defaults: a NOT NULL column the
 * module leaves out of an INSERT (active_watchers.flags in 5.6) makes the INSERT fail, and a stored
 * empty value (presentity.sender) makes the table unloadable at the next start. So every column but the
 * auto id is declared nullable, which is what the SQL schemas' DEFAULTs amount to.
 */
export function prepareDbText(dbDir: string): void {
  rmSync(dbDir, { recursive: true, force: true });
  mkdirSync(dbDir, { recursive: true });
  for (const table of PRESENCE_TABLES) {
    const src = join(DBTEXT_SOURCE, table);
    if (!existsSync(src)) throw new Error(`db_text table ${src} missing: install kamailio`);
    const dest = join(dbDir, table);
    if (table === 'version') {
      copyFileSync(src, dest);
      continue;
    }
    const [header = '', ...rows] = readFileSync(src, 'utf8').split('\n');
    writeFileSync(dest, [header.replace(/\(([a-z]+)\)/g, '($1,null)'), ...rows].join('\n'));
  }
}

const DOMAIN_RE = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const HOST_RE = /^\d{1,3}(?:\.\d{1,3}){3}$/;

export interface KamailioConfigVars {
  port: number;
  domain: string;
  xmppDomains: string[];
  stox: SipHostPort;
  dir: string;
  presence: 'server' | 'proxy';
  logLevel: number;
  /** Put in the Server header, so a probe can tell this instance's answers from another's. */
  instance: string;
}

/** The config text for one start: the template with every {{NAME}} filled in. */
export function kamailioConfig(v: KamailioConfigVars): string {
  for (const d of [v.domain, ...v.xmppDomains]) if (!DOMAIN_RE.test(d)) throw new Error(`not a domain name: ${d}`);
  if (!/^[A-Za-z0-9-]+$/.test(v.instance)) throw new Error(`bad instance token ${v.instance}`);
  // A numeric host: a name would make Kamailio resolve it, and this machine's resolver is not on loopback.
  if (!HOST_RE.test(v.stox.host)) throw new Error(`Stox host must be an IPv4 address, got ${v.stox.host}`);
  const vars: Record<string, string> = {
    DEFINES: v.presence === 'server' ? '#!define WITH_PRESENCE_SERVER' : '',
    DEBUG: String(v.logLevel),
    INSTANCE: v.instance,
    PORT: String(v.port),
    DOMAIN: v.domain,
    MPATH: modulesPath(),
    CTL_SOCKET: join(v.dir, 'run', 'kamailio_ctl'),
    DB_DIR: join(v.dir, 'db'),
    // Write-back (2): subscriptions are flushed every db_update_period and at shutdown.
    SUBS_DB_MODE: '2',
    STOX_HOST: v.stox.host,
    STOX_PORT: String(v.stox.port),
    XMPP_DOMAIN_TEST: v.xmppDomains.length === 0 ? 'false' : v.xmppDomains.map((d) => `$rd == "${d}"`).join(' || '),
  };
  const text = readFileSync(KAMAILIO_TEMPLATE, 'utf8').replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`kamailio.cfg.tmpl: unknown placeholder ${name}`);
    return value;
  });
  return text;
}

/**
 * Sends an OPTIONS to `sip:127.0.0.1:PORT` over UDP and resolves with the whole answer (status line
 * first), or undefined when nothing answers within `timeoutMs`.
 */
export function probeOptions(port: number, timeoutMs = 300): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const finish = (v: string | undefined): void => {
      clearTimeout(timer);
      sock.removeAllListeners('message');
      try {
        sock.close();
      } catch {
        // already closed
      }
      resolve(v);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    sock.once('error', () => finish(undefined));
    sock.on('message', (msg) => {
      const text = msg.toString('utf8');
      if (text.startsWith('SIP/2.0 ')) finish(text);
    });
    sock.bind(0, '127.0.0.1', () => {
      const local = sock.address().port;
      const branch = `z9hG4bK-probe-${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
      const req = [
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport`,
        'Max-Forwards: 70',
        `From: <sip:probe@127.0.0.1:${local}>;tag=${branch.slice(8)}`,
        `To: <sip:127.0.0.1:${port}>`,
        `Call-ID: ${branch}@127.0.0.1`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      sock.send(req, port, '127.0.0.1');
    });
  });
}

/** Pids of the live children of `pid` (Kamailio's workers), from /proc. */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of existsSync('/proc') ? readdirSync('/proc') : []) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

function isOurs(pid: number, cfg: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(cfg);
  } catch {
    return false;
  }
}

class PortTakenError extends Error {
  constructor(port: number) {
    super(`port ${port} taken`);
  }
}

export async function startKamailio(opts: KamailioOptions): Promise<KamailioInstance> {
  const tmp = opts.dir === undefined ? tempDir('stox-kamailio-') : undefined;
  const dir = opts.dir ?? tmp!.path;
  const cfg = join(dir, 'kamailio.cfg');
  const presence = opts.presence ?? 'server';
  const stoxOf = (): SipHostPort => (typeof opts.stox === 'function' ? opts.stox() : opts.stox);
  let stoxOverride: SipHostPort | undefined;
  let stox: SipHostPort = { host: '127.0.0.1', port: 0 }; // set by every start
  let port = 0;
  let proc: Started | undefined;
  let last: Started | undefined;
  let children: number[] = [];
  const instanceToken = randomBytes(6).toString('hex');

  const write = (): void => {
    for (const sub of ['run', 'work']) mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(cfg, kamailioConfig({ port, domain: opts.domain, xmppDomains: opts.xmppDomains, stox, dir, presence, logLevel: opts.logLevel ?? 2, instance: instanceToken }));
  };

  const stop = async (): Promise<void> => {
    if (proc === undefined) return;
    const p = proc;
    proc = undefined;
    const workers = [...new Set([...children, ...childPids(p.pid)])];
    await p.stop('SIGTERM', 5_000);
    // Kamailio's main process stops its workers; if it had to be killed, kill what it left by pid.
    for (const pid of workers) {
      if (isOurs(pid, cfg)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  };

  const launch = async (): Promise<void> => {
    const args = ['-f', cfg, '-DD', '-E', '-m', String(opts.sharedMemoryMb ?? 256), '-M', '16', '-P', join(dir, 'run', 'kamailio.pid'), '-Y', join(dir, 'run'), '-w', join(dir, 'work')];
    // Its own process group, so that a signal Kamailio sends to its process group reaches only its own.
    const p = start(KAMAILIO_BIN, args, { cwd: dir, detached: true });
    proc = p;
    last = p;
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (p.child.exitCode !== null || p.child.signalCode !== null) {
          const out = p.stderr + p.stdout;
          if (/Address already in use/.test(out)) throw new PortTakenError(port);
          throw new Error(`kamailio exited (${String(p.child.exitCode)}) while starting: ${out.slice(-3000)}`);
        }
        const answer = await probeOptions(port);
        if (answer !== undefined && !answer.includes(instanceToken)) throw new PortTakenError(port);
        if (answer !== undefined) break;
        if (Date.now() > deadline) throw new Error(`kamailio not answering OPTIONS on udp 127.0.0.1:${port}: ${(p.stderr + p.stdout).slice(-3000)}`);
      }
      children = childPids(p.pid);
    } catch (err) {
      await stop();
      throw err;
    }
  };

  const startFresh = async (keepState: boolean): Promise<void> => {
    stox = stoxOverride ?? stoxOf();
    if (!keepState) prepareDbText(join(dir, 'db'));
    write();
    await launch();
  };

  try {
    // The port was free a moment ago; a parallel test may take it first, so pick again and retry.
    for (let tries = 0; ; tries++) {
      port = await freeUdpTcpPort();
      try {
        await startFresh(false);
        break;
      } catch (err) {
        if (!(err instanceof PortTakenError) || tries >= 4) throw err;
      }
    }
  } catch (err) {
    tmp?.remove();
    throw err;
  }

  const rpc = async (method: string, ...args: string[]): Promise<string> => {
    const r = start(KAMCMD_BIN, ['-s', `unix:${join(dir, 'run', 'kamailio_ctl')}`, method, ...args], { cwd: dir });
    const code = await r.exited;
    if (code !== 0) throw new Error(`kamcmd ${method} failed (${String(code)}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  const instance: KamailioInstance = {
    get port(): number {
      return port;
    },
    domain: opts.domain,
    dir,
    get pid(): number {
      return proc?.pid ?? -1;
    },
    get target(): string {
      return `127.0.0.1:${port}`;
    },
    output: () => (last ? last.stderr + last.stdout : ''),
    stop,
    async restart(o = {}) {
      await stop();
      await startFresh(o.keepState === true);
    },
    async setStox(addr) {
      if (!HOST_RE.test(addr.host)) throw new Error(`Stox host must be an IPv4 address, got ${addr.host}`);
      await rpc('htable.sets', 'stox', 'du', `sip:${addr.host}:${addr.port}`);
      stox = addr;
      stoxOverride = addr;
    },
    rpc,
    async dispose() {
      await stop();
      tmp?.remove();
    },
  };
  return instance;
}

// ---------------------------------------------------------------------------------------------------
// sipp as a SIP presence user agent against Kamailio (scenarios in test/integration/scenarios/, see SCENARIOS).

export const PRESENCE_SCENARIOS = {
  publish: join(SCENARIOS, 'presence-publish.xml'),
  publishModify: join(SCENARIOS, 'presence-publish-modify.xml'),
  subscriber: join(SCENARIOS, 'presence-subscriber.xml'),
  notifier: join(SCENARIOS, 'presence-notifier.xml'),
  register: join(SCENARIOS, 'presence-register.xml'),
} as const;

/** `-key NAME VALUE` for each entry: sipp refuses to start without every key its scenario uses. */
export function sippKeys(keys: Record<string, string | number>): string[] {
  return Object.entries(keys).flatMap(([k, v]) => ['-key', k, String(v)]);
}

export interface PublishOptions {
  user: string;
  domain: string;
  basic: 'open' | 'closed';
  note: string;
  expires?: number;
  /** Modify (or with expires 0 remove) the publication with this entity tag instead of creating one. */
  etag?: string;
  transport?: 'udp' | 'tcp';
}

export interface PublishResult extends SippRun {
  /** The SIP-ETag of the 200 (undefined if the PUBLISH failed or the 200 had none). */
  etag: string | undefined;
}

let publishCount = 0;

/**
 * One PUBLISH to `target` (`127.0.0.1:PORT`): presence-publish.xml, or presence-publish-modify.xml with
 * SIP-If-Match when `etag` is given. code 0 means a 200 came back. To change a presentity's state, pass
 * the previous result's etag: a second publication without one is composed with the first (RFC 3903).
 */
export async function publishPresence(target: string, cwd: string, o: PublishOptions): Promise<PublishResult> {
  const logFile = join(cwd, `publish-${process.pid}-${++publishCount}.log`);
  const keys: Record<string, string | number> = { user: o.user, domain: o.domain, basic: o.basic, note: o.note, expires: o.expires ?? 3600 };
  if (o.etag !== undefined) keys.etag = o.etag;
  const run = await runSipp({
    scenario: o.etag === undefined ? PRESENCE_SCENARIOS.publish : PRESENCE_SCENARIOS.publishModify,
    target,
    transport: o.transport ?? 'udp',
    cwd,
    extra: ['-trace_logs', '-log_file', logFile, ...sippKeys(keys)],
  });
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  const etag = /SIP-ETag: (\S+)/.exec(log)?.[1];
  return { ...run, etag };
}

/** One REGISTER (presence-register.xml) binding `user@domain` to `contact` (`host:port`). */
export function registerContact(target: string, cwd: string, o: { user: string; domain: string; contact: string; expires?: number }): Promise<SippRun> {
  return runSipp({
    scenario: PRESENCE_SCENARIOS.register,
    target,
    transport: 'udp',
    cwd,
    extra: sippKeys({ user: o.user, domain: o.domain, contact: o.contact, expires: o.expires ?? 3600 }),
  });
}

export interface BackgroundSipp {
  proc: Started;
  /** The local port sipp uses (its Contact). */
  port: number;
  /** Resolves when sipp exits; code 0 means every call passed. */
  done: Promise<SippRun>;
  /** The scenario's <log> lines so far (-trace_logs). */
  logs(): string;
  /** Every message sipp sent or received so far (-trace_msg). */
  messages(): string;
  /** Resolves when a <log> line matches; rejects if sipp exits first or on timeout. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

export interface BackgroundSippOptions {
  scenario: string;
  /** `127.0.0.1:PORT` for a UAC; omitted for a UAS. */
  target?: string;
  keys: Record<string, string | number>;
  cwd: string;
  /** Local port; a free one by default. */
  port?: number;
  transport?: 'udp' | 'tcp';
  /** UAC only: calls to place (default 1). */
  calls?: number;
  /** UAC only: global timeout in seconds (default 30) after which sipp gives up and fails. */
  timeoutSec?: number;
}

let backgroundCount = 0;

/**
 * sipp running in the background (a watcher that must wait for NOTIFYs while the test acts, or a
 * long-lived UAS such as presence-notifier.xml). Stopped by the test's stopAll() if still running.
 */
export async function startSipp(o: BackgroundSippOptions): Promise<BackgroundSipp> {
  const port = o.port ?? (await freeUdpTcpPort());
  const name = `sipp-${process.pid}-${++backgroundCount}-${port}`;
  const messageFile = join(o.cwd, `${name}-messages.log`);
  const logFile = join(o.cwd, `${name}-logs.log`);
  const args = [
    ...(o.target !== undefined ? [o.target] : []),
    '-sf', o.scenario,
    '-t', (o.transport ?? 'udp') === 'udp' ? 'u1' : 't1',
    '-i', '127.0.0.1',
    '-p', String(port),
    '-nostdin',
    // One received message per pass, so back-to-back messages (a 2xx and a NOTIFY) each meet the
    // element they were meant for (see presence-subscriber.xml).
    '-max_recv_loops', '1',
    // An aborted call must not send a BYE into a SUBSCRIBE dialog (Kamailio would answer 404).
    '-default_behaviors', 'all,-bye',
    '-trace_err', '-error_file', join(o.cwd, `${name}-errors.log`),
    '-trace_msg', '-message_file', messageFile,
    '-trace_logs', '-log_file', logFile,
    ...(o.target !== undefined ? ['-m', String(o.calls ?? 1), '-timeout', `${o.timeoutSec ?? 30}s`, '-timeout_error'] : []),
    ...sippKeys(o.keys),
  ];
  const proc = start('sipp', args, { cwd: o.cwd });
  const read = (file: string) => (): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  const logs = read(logFile);
  const done = proc.exited.then((code) => ({ code, stdout: proc.stdout, stderr: proc.stderr }));
  const waitForLog = async (re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = logs().match(re);
      if (m) return m;
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        const last = logs().match(re);
        if (last) return last;
        throw new Error(`sipp exited (${String(proc.child.exitCode)}) before log ${re}: ${logs()}\n${proc.stderr.slice(-2000)}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for sipp log ${re}: ${logs()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  if (o.target === undefined) {
    // A UAS is ready once it listens: its UDP port cannot be bound by us, or its TCP port accepts.
    const deadline = Date.now() + 10_000;
    const ready = (): Promise<boolean> => ((o.transport ?? 'udp') === 'udp' ? udpPortBound(port) : tcpAccepts(port));
    while (!(await ready())) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`sipp UAS exited: ${proc.stderr}${proc.stdout}`);
      if (Date.now() > deadline) throw new Error(`sipp UAS not listening on ${o.transport ?? 'udp'} 127.0.0.1:${port}: ${proc.stderr}${proc.stdout}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { proc, port, done, logs, messages: read(messageFile), waitForLog };
}
