import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageFile } from '../src/package-root.js';
import { start, type Started } from './processes.js';

/** The sipp scenarios the tests, the demo and the harness use (found from src/ and from dist/ alike). */
export const SCENARIOS = packageFile('test/integration/scenarios');

export interface SippRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SippOptions {
  scenario: string;
  target: string;
  transport: 'udp' | 'tcp';
  calls?: number;
  rate?: number;
  timeoutSec?: number;
  cwd: string;
  extra?: string[];
}

/** Run sipp as a UAC to completion; exit code 0 means every call passed its scenario. */
export async function runSipp(o: SippOptions): Promise<SippRun> {
  const args = [
    o.target,
    '-sf', o.scenario.startsWith('/') ? o.scenario : join(SCENARIOS, o.scenario),
    '-t', o.transport === 'udp' ? 'u1' : 't1',
    '-i', '127.0.0.1',
    '-p', '0',
    '-m', String(o.calls ?? 1),
    '-r', String(o.rate ?? 10),
    '-timeout', `${o.timeoutSec ?? 15}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_err',
    ...(o.extra ?? []),
  ];
  const p = start('sipp', args, { cwd: o.cwd });
  const code = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}

export interface UacMessage {
  requestUri: string;
  from: string;
  to: string;
  headers?: string[];
  body: string;
  /** Response code sipp must get; anything else fails the call. */
  expect: number;
  /** Regexps the response must match (searched in the whole message). */
  responseChecks?: string[];
}

/** Text of a CDATA section: ']]>' cannot appear inside one. */
function cdata(text: string): string {
  if (text.includes(']]>')) throw new Error('scenario text cannot contain ]]>');
  return text;
}

/** A one-MESSAGE UAC scenario written into `dir`, so each test states its own request exactly. */
export function writeMessageScenario(dir: string, name: string, m: UacMessage): string {
  const checks = (m.responseChecks ?? [])
    .map((re, i) => `<ereg regexp="${re.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')}" search_in="msg" check_it="true" assign_to="c${i}"/>`)
    .join('\n      ');
  const refs = (m.responseChecks ?? []).map((_, i) => `c${i}`).join(',');
  const xml = `<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="${name}">
  <send retrans="500">
    <![CDATA[
      MESSAGE ${m.requestUri} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: ${m.from};tag=[pid]SIPpTag09[call_number]
      To: ${m.to}
      Call-ID: [call_id]
      CSeq: 1 MESSAGE
      Max-Forwards: 70
${(m.headers ?? []).map((h) => `      ${h}`).join('\n')}
      Content-Length: [len]

${cdata(m.body)}
    ]]>
  </send>
  <recv response="${m.expect}">${checks ? `\n    <action>\n      ${checks}\n    </action>\n  ` : ''}</recv>
${refs ? `  <Reference variables="${refs}"/>\n` : ''}</scenario>
`;
  const path = join(dir, `${name}.xml`);
  writeFileSync(path, xml);
  return path;
}

export interface SippUas {
  proc: Started;
  port: number;
  /** Everything sipp logged as received/sent so far (its -trace_msg file). */
  messages(): string;
}

/** A long-running sipp UAS on a free UDP port, stopped by stopAll(). */
export async function startSippUas(dir: string, scenario: string, port: number): Promise<SippUas> {
  const messageFile = join(dir, `uas-${port}-messages.log`);
  const proc = start('sipp', ['-sf', scenario.includes('/') ? scenario : join(SCENARIOS, scenario), '-i', '127.0.0.1', '-p', String(port), '-nostdin', '-trace_msg', '-message_file', messageFile], { cwd: dir });
  await new Promise((r) => setTimeout(r, 300));
  if (proc.child.exitCode !== null) throw new Error(`sipp UAS exited: ${proc.stderr}${proc.stdout}`);
  return { proc, port, messages: () => (existsSync(messageFile) ? readFileSync(messageFile, 'utf8') : '') };
}

/** NOTIFYs a watcher takes while waiting for its match; the last one must match. */
const MAX_WATCH_NOTIFIES = 12;

export interface WatcherScenario {
  /** Presentity, user@domain (Request-URI and To). */
  target: string;
  /** Watcher, user@domain (From). */
  watcher: string;
  expires: number;
  /** POSIX ERE (sipp's ereg) a NOTIFY must match for the watcher to stop watching and unsubscribe. */
  until: string;
}

/**
 * A SIP watcher for Stox's S2X flow (RFC 8048 §5.3): SUBSCRIBE, then answer every NOTIFY (pending first,
 * then active ones as the XMPP side acts) until one matches `until`, then un-SUBSCRIBE and take the
 * terminated NOTIFY. Each NOTIFY's Subscription-State is logged ("notify state=...") for waitForLog.
 */
export function writeWatcherScenario(dir: string, name: string, w: WatcherScenario): string {
  const until = w.until.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const ok = (cseq = '[last_CSeq:]') => `  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      ${cseq}
      Contact: <sip:watcher@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>`;
  // sipp matches a message against the element it stands on before running any nop, so after a recv
  // comes a send or a recv, never a nop: decisions ride on the send's next/test. Hence the unrolled loop.
  const notify = (i: number, last: boolean) => `  <recv request="NOTIFY">
    <action>
      <ereg regexp="Subscription-State:[[:space:]]*([a-z]+)" search_in="msg" check_it="true" assign_to="ss${i},state"/>
      <ereg regexp="${until}" search_in="msg" check_it="${last}" assign_to="found"/>
      <log message="notify state=[$state]"/>
    </action>
  </recv>
${ok().replace('<send>', '<send next="done" test="found">')}`;
  const rounds = Array.from({ length: MAX_WATCH_NOTIFIES }, (_, i) => notify(i, i === MAX_WATCH_NOTIFIES - 1)).join('\n');
  const refs = ['t1', 't2', 'e1', ...Array.from({ length: MAX_WATCH_NOTIFIES }, (_, i) => `ss${i}`)].join(',');
  const xml = `<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="${name}">
  <send retrans="500">
    <![CDATA[
      SUBSCRIBE sip:${w.target} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:${w.watcher}>;tag=[pid]SIPpTagW[call_number]
      To: <sip:${w.target}>
      Call-ID: [call_id]
      CSeq: 1 SUBSCRIBE
      Max-Forwards: 70
      Contact: <sip:watcher@[local_ip]:[local_port];transport=[transport]>
      Event: presence
      Accept: application/pidf+xml
      Expires: ${w.expires}
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" optional="true" rrs="true" next="loop"><action><log message="subscribed"/></action></recv>
  <recv request="NOTIFY">
    <action>
      <ereg regexp="Subscription-State:[[:space:]]*([a-z]+)" search_in="msg" check_it="true" assign_to="e1,state"/>
      <ereg regexp="${until}" search_in="msg" check_it="false" assign_to="found"/>
      <log message="notify state=[$state]"/>
    </action>
  </recv>
${ok()}
  <recv response="200" rrs="true" next="done" test="found"><action><log message="subscribed"/></action></recv>
  <label id="loop"/>
${rounds}
  <label id="done"/>
  <send retrans="500">
    <![CDATA[
      SUBSCRIBE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      From: <sip:${w.watcher}>;tag=[pid]SIPpTagW[call_number]
      To: <sip:${w.target}>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 SUBSCRIBE
      Max-Forwards: 70
      Contact: <sip:watcher@[local_ip]:[local_port];transport=[transport]>
      Event: presence
      Expires: 0
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" optional="true" next="final"/>
  <recv request="NOTIFY">
    <action><ereg regexp="Subscription-State:[[:space:]]*terminated" search_in="msg" check_it="true" assign_to="t1"/></action>
  </recv>
${ok()}
  <recv response="200" next="end"><action><log message="unsubscribed"/></action></recv>
  <label id="final"/>
  <recv request="NOTIFY">
    <action><ereg regexp="Subscription-State:[[:space:]]*terminated" search_in="msg" check_it="true" assign_to="t2"/><log message="unsubscribed"/></action>
  </recv>
${ok()}
  <label id="end"/>
  <Reference variables="${refs}"/>
</scenario>
`;
  const path = join(dir, `${name}.xml`);
  writeFileSync(path, xml);
  return path;
}
