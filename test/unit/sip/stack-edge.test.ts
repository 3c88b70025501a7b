import { connect } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/ops/logging.js';
import { createRequest } from '../../../src/sip/message.js';
import { SipStack, type SipApplication } from '../../../src/sip/stack.js';
import { tempDir } from '../../helpers/processes.js';
import { makeCa, makeCert } from '../../helpers/tls-certs.js';

// Regressions at the stack's edge: transport errors were never logged (a slowloris cut-off left no
// trace), and a TLS handshake that failed after the send returned reached the caller only as a Timer F
// timeout 32 s later (RFC 3261 §17.1.4 wants the transport failure reported).

const app: SipApplication = { methods: ['MESSAGE'], accept: ['text/plain'], supported: [], hasRoute: () => false, onRequest: () => undefined };
const stacks: SipStack[] = [];
const dir = tempDir();

afterEach(async () => {
  for (const s of stacks.splice(0)) await s.stop();
});
afterAll(() => dir.remove());

function logged(): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return { logger: createLogger('info', out), lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('SipStack edge', () => {
  it('logs a connection cut off by headerReadTimeoutMs, naming the limit', async () => {
    const log = logged();
    const stack = new SipStack({ listen: ['tcp://127.0.0.1:0'], domains: ['sip.test'], maxMessageBytes: 65536, userAgent: 'test', logger: log.logger, limits: { headerReadTimeoutMs: 100 } });
    stacks.push(stack);
    await stack.start(app);
    const socket = connect({ host: '127.0.0.1', port: stack.listeners[0]!.port });
    socket.on('error', () => undefined);
    socket.write('OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKslow\r\n');
    await new Promise((r) => socket.once('close', r));
    expect(log.lines().some((l) => l.msg === 'SIP connection error' && /not complete within 100 ms/.test(String(l.err)))).toBe(true);
  });

  it('a TLS next hop whose certificate does not verify: onTransportError at once, not onTimeout (RFC 3261 §17.1.4)', async () => {
    const trusted = makeCa(dir.path, 'Unit Trusted');
    const rogue = makeCa(dir.path, 'Unit Rogue');
    const ours = makeCert(dir.path, trusted, 'sip.test', ['127.0.0.1']);
    const theirs = makeCert(dir.path, rogue, 'hop.test', ['127.0.0.1']);
    const hop = createTlsServer({ cert: theirs.cert, key: theirs.key });
    hop.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => hop.listen(0, '127.0.0.1', r));
    const hopPort = (hop.address() as { port: number }).port;
    const stack = new SipStack({
      listen: ['tls://127.0.0.1:0'],
      domains: ['sip.test'],
      maxMessageBytes: 65536,
      userAgent: 'test',
      logger: logged().logger,
      tls: { cert: ours.cert, key: ours.key, ca: trusted.cert },
      outboundProxy: `sip:127.0.0.1:${hopPort};transport=tls;lr`,
    });
    stacks.push(stack);
    await stack.start(app);
    const req = createRequest('MESSAGE', 'sip:bob@elsewhere.test', [
      ['From', '<sip:alice@sip.test>;tag=1'],
      ['To', '<sip:bob@elsewhere.test>'],
      ['Call-ID', 'unit-tls-1'],
      ['CSeq', '1 MESSAGE'],
    ]);
    try {
      const outcome = await new Promise<string>((resolve) => {
        void stack.request(req, {
          onFinal: (res) => resolve(`final ${res.status}`),
          onTimeout: () => resolve('timeout'),
          onTransportError: (err) => resolve(`transport: ${err.message}`),
        });
      });
      expect(outcome).toMatch(/^transport: tls connect to 127\.0\.0\.1:\d+ failed: /);
    } finally {
      await new Promise((r) => hop.close(r));
    }
  });
});
