/**
 * `/health`: healthy only when Stox can do its job both ways, i.e. every XMPP component is connected and
 * every configured SIP listener is bound. A load balancer or orchestrator reads the status code; people
 * read the JSON, which says what is down either way.
 */

export interface HealthInput {
  version: string;
  startedAt: number;
  now: number;
  /** True from SIGTERM on: the instance answers what it holds and takes nothing new. */
  draining: boolean;
  components: ReadonlyArray<{ domain: string; state: string }>;
  /** Configured listen URLs in config order, and the endpoints bound for them (same order). */
  sipConfigured: readonly string[];
  sipBound: ReadonlyArray<{ transport: string; address: string; port: number }>;
}

export interface HealthReport {
  status: 'ok' | 'unavailable' | 'draining';
  version: string;
  uptimeSeconds: number;
  components: Array<{ domain: string; state: string; connected: boolean }>;
  sip: Array<{ listen: string; bound: string | null; up: boolean }>;
}

function endpointUrl(e: { transport: string; address: string; port: number }): string {
  return `${e.transport}://${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;
}

export function healthReport(h: HealthInput): HealthReport {
  const components = h.components.map((c) => ({ domain: c.domain, state: c.state, connected: c.state === 'online' }));
  const sip = h.sipConfigured.map((listen, i) => {
    const bound = h.sipBound[i];
    return { listen, bound: bound ? endpointUrl(bound) : null, up: bound !== undefined && !h.draining };
  });
  const ok = components.every((c) => c.connected) && sip.every((s) => s.up);
  return {
    status: h.draining ? 'draining' : ok ? 'ok' : 'unavailable',
    version: h.version,
    uptimeSeconds: Math.max(0, Math.round((h.now - h.startedAt) / 1000)),
    components,
    sip,
  };
}
