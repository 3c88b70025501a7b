import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/ops/logging.js';
import { OpsHttpServer } from '../../../src/ops/http.js';
import type { HealthReport } from '../../../src/ops/health.js';

const servers: OpsHttpServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

async function serve(): Promise<number> {
  const health = { status: 'ok' } as unknown as HealthReport;
  const s = new OpsHttpServer({ host: '127.0.0.1', port: 0 }, { health: () => health, metrics: async () => ({ contentType: 'text/plain', body: 'm 1\n' }), admin: () => undefined }, silentLogger());
  await s.start();
  servers.push(s);
  return s.address!.port;
}

/** One raw HTTP/1.1 request, so request-targets fetch() would refuse can be sent; the whole answer. */
function raw(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(`${head}\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('utf8')));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
}

describe('OpsHttpServer: hostile requests get an HTTP error, never end the process', () => {
  it('a request-target that is no URL (//[) gets 400 and the server keeps serving', async () => {
    const port = await serve();
    expect(await raw(port, 'GET //[ HTTP/1.1')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(port, 'GET /health HTTP/1.1')).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('methods other than GET and HEAD get 405 with Allow; unknown paths 404', async () => {
    const port = await serve();
    const post = await raw(port, 'POST /health HTTP/1.1');
    expect(post).toMatch(/^HTTP\/1\.1 405 /);
    expect(post).toMatch(/\r\nallow: GET, HEAD\r\n/i);
    expect(await raw(port, 'GET /nothing HTTP/1.1')).toMatch(/^HTTP\/1\.1 404 /);
    expect(await raw(port, 'GET /admin/unknown HTTP/1.1')).toMatch(/^HTTP\/1\.1 404 /);
  });
});
