import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logging.js';
import type { HealthReport } from './health.js';
import { httpAuthority, type HttpListen } from './http-listen.js';

/** What the server serves; the gateway provides it from live state. */
export interface OpsHandlers {
  health(): HealthReport;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** `/admin/<name>` → JSON, or undefined for an unknown name. */
  admin(name: string): unknown;
}

/**
 * The operations HTTP server on `http.listen`: `/health`, `/metrics` and the read-only admin API. GET and
 * HEAD only, no request bodies; it is meant for loopback or a management network and has no auth.
 */
export class OpsHttpServer {
  private server?: Server;
  private readonly log: Logger;

  constructor(
    private readonly listen: HttpListen,
    private readonly handlers: OpsHandlers,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'http' });
  }

  /** The bound address (the real port when `listen` said 0). */
  get address(): HttpListen | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    // Scrapers keep connections alive; a short idle time keeps shutdown from waiting on them.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listen.port, this.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err: err.message }, 'HTTP server error'));
    this.server = server;
    this.log.info({ listen: httpAuthority(this.address!) }, 'HTTP listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const send = (status: number, contentType: string, body: string): void => {
      res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const json = (status: number, value: unknown): void => send(status, 'application/json; charset=utf-8', JSON.stringify(value, null, 2) + '\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return json(405, { error: 'method not allowed' });
    }
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://stox').pathname;
    } catch {
      // A request-target such as `//[` is no URL; throwing here would end the process.
      return json(400, { error: 'bad request-target' });
    }
    try {
      if (path === '/health') {
        const report = this.handlers.health();
        return json(report.status === 'ok' ? 200 : 503, report);
      }
      if (path === '/metrics') {
        this.handlers.metrics().then(
          (m) => send(200, m.contentType, m.body),
          (err: unknown) => {
            this.log.error({ err: (err as Error).message }, 'cannot collect metrics');
            json(500, { error: 'cannot collect metrics' });
          },
        );
        return;
      }
      if (path.startsWith('/admin/')) {
        const value = this.handlers.admin(path.slice('/admin/'.length));
        if (value !== undefined) return json(200, value);
      }
      json(404, { error: 'not found', paths: ['/health', '/metrics', '/admin/subscriptions', '/admin/sessions', '/admin/peers'] });
    } catch (err) {
      this.log.error({ err: (err as Error).message, path }, 'HTTP handler failed');
      if (!res.headersSent) json(500, { error: 'internal error' });
    }
  }
}
