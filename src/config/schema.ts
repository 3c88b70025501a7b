import { z } from 'zod';
import { parseCidr } from '../core/cidr.js';
import { FEATURES } from '../core/policy.js';
import { parseListenUrl } from '../sip/transport/listen-url.js';
import { parseHttpListen } from '../ops/http-listen.js';

/**
 * The operator contract. Every key here is documented in config/stox.example.yaml; names are fixed once
 * published (later features add keys, never rename). Objects are strict so a typo is an error naming the
 * key instead of a setting silently ignored.
 */

const hostname = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/, {
    message: 'expected a domain name such as sip.example.org',
  });

const listenUrl = z.string().superRefine((value, ctx) => {
  try {
    parseListenUrl(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const httpListen = z.string().superRefine((value, ctx) => {
  try {
    parseHttpListen(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const sipUri = z.string().regex(/^sips?:[^\s<>"]+$/i, { message: 'expected a SIP URI such as sip:127.0.0.1:5070;lr' });

const tlsFiles = z
  .object({
    cert: z.string().min(1),
    key: z.string().min(1),
    ca: z.string().min(1).optional(),
    // Without `ca` no client certificate can verify, so refusing unverified peers would refuse every peer.
    requireClientCert: z.boolean({ message: 'expected true or false' }).default(false),
  })
  .strict()
  .superRefine((tls, ctx) => {
    if (tls.requireClientCert && tls.ca === undefined) {
      ctx.addIssue({ code: 'custom', path: ['requireClientCert'], message: 'needs sip.tls.ca, the CA that signs the peer certificates' });
    }
  });

const componentUrl = z.string().regex(/^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
  message: 'expected tcp://host:port',
});

const xmppComponent = z
  .object({
    domain: hostname,
    secret: z.string().min(1),
    addressing: z.enum(['domain', 'escaped']).default('domain'),
  })
  .strict();

/** A `sources` entry: an address or a CIDR prefix, without host bits set. */
const ipOrCidr = z.string({ message: 'expected an IP address or CIDR' }).superRefine((value, ctx) => {
  const parsed = parseCidr(value);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
});

// RFC 5922 §7.2: a SIP domain certificate matches only in its entirety, so a wildcard here could never match.
const tlsIdentity = z.string().refine((value) => hostname.safeParse(value).success, {
  message: 'expected a domain name as it appears in the peer certificate (exact match, no wildcards)',
});

const feature = z.enum(FEATURES, { message: `expected one of ${FEATURES.join(', ')}` });

const positiveInteger = () => {
  const message = 'expected a positive integer';
  return z.number({ message }).int({ message }).positive({ message });
};

/** Stream (TCP/TLS) connection limits; UDP has no connections. Defaults in src/sip/transport/types.ts. */
const transportLimits = z
  .object({
    maxConnectionsPerSource: positiveInteger().optional(),
    maxConnections: positiveInteger().optional(),
    idleTimeoutMs: positiveInteger().optional(),
    headerReadTimeoutMs: positiveInteger().optional(),
  })
  .strict();

const SIP_ONLY_PEER_KEYS = ['sources', 'tlsIdentities', 'requireTls'] as const;

const peerDomain = z
  .object({
    protocol: z.enum(['sip', 'xmpp'], { message: 'expected sip or xmpp' }),
    features: z.array(feature).default(() => [...FEATURES]),
    rate: z
      .object({
        perSecond: z.number({ message: 'expected a positive number' }).positive({ message: 'expected a positive number' }),
        burst: positiveInteger(),
      })
      .strict()
      .optional(),
    maxMessageBytes: positiveInteger().optional(),
    sources: z.array(ipOrCidr).min(1, { message: 'expected at least one address (leave the key out to accept any source)' }).optional(),
    tlsIdentities: z.array(tlsIdentity).min(1, { message: 'expected at least one name (leave the key out to accept any)' }).optional(),
    requireTls: z.boolean({ message: 'expected true or false' }).default(false),
  })
  .strict()
  .superRefine((peer, ctx) => {
    // An XMPP peer's stanzas arrive through the XMPP server, which has already authenticated the domain.
    if (peer.protocol !== 'xmpp') return;
    for (const key of SIP_ONLY_PEER_KEYS) {
      if (key === 'requireTls' ? peer.requireTls : peer[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'applies to protocol sip only (XMPP peers are authenticated by the XMPP server)' });
      }
    }
  });

const peering = z
  .object({
    default: z.enum(['allow', 'deny'], { message: 'expected allow or deny' }),
    domains: z
      .record(hostname, peerDomain, {
        error: (issue) =>
          issue.code === 'invalid_key' ? `expected a domain name such as partner.example as the key, got ${JSON.stringify(issue.input)}` : undefined,
      })
      .default(() => ({}))
      .superRefine((domains, ctx) => {
        const seen = new Set<string>();
        for (const key of Object.keys(domains)) {
          const folded = key.toLowerCase();
          if (seen.has(folded)) ctx.addIssue({ code: 'custom', path: [key], message: `duplicate domain (names are case-insensitive), got "${key}"` });
          seen.add(folded);
        }
      }),
  })
  .strict();

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const configSchema = z
  .object({
    sip: z
      .object({
        listen: z.array(listenUrl).min(1),
        domains: z.array(hostname).min(1),
        outboundProxy: sipUri.optional(),
        tls: tlsFiles.optional(),
        maxMessageBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(65536),
        userAgent: z.string().regex(/^[\x20-\x7e]+$/, { message: 'expected printable ASCII' }).default('Stox'),
        limits: transportLimits.default(() => ({})),
      })
      .strict()
      .superRefine((sip, ctx) => {
        sip.listen.forEach((url, i) => {
          if (/^tls:/i.test(url) && !sip.tls) {
            ctx.addIssue({ code: 'custom', path: ['listen', i], message: 'a tls:// listener needs sip.tls (cert and key)' });
          }
        });
      }),
    xmpp: z
      .object({
        server: componentUrl,
        components: z.array(xmppComponent).min(1),
      })
      .strict()
      .optional(),
    im: z
      .object({
        successCode: z.union([z.literal(200), z.literal(202)]).default(202),
        maxMessageBytes: z.number().int().min(500).max(65_000).default(1300),
        confirmTimeoutMs: z.number().int().min(0).max(30_000).default(400),
        retryAfterSeconds: z.number().int().min(1).max(3600).default(5),
      })
      .strict()
      .default({ successCode: 202, maxMessageBytes: 1300, confirmTimeoutMs: 400, retryAfterSeconds: 5 }),
    store: z
      .object({ path: z.string().min(1).default('stox.db') })
      .strict()
      .default({ path: 'stox.db' }),
    presence: z
      .object({
        subscribeExpires: z.number().int().min(60).max(86_400).default(3600),
        minExpires: z.number().int().min(1).max(3600).default(60),
        maxExpires: z.number().int().min(60).max(86_400).default(3600),
        notifyIntervalMs: z.number().int().min(0).max(60_000).default(5000),
        resumePerSecond: z.number().int().min(1).max(100_000).default(500),
      })
      .strict()
      .default({ subscribeExpires: 3600, minExpires: 60, maxExpires: 3600, notifyIntervalMs: 5000, resumePerSecond: 500 }),
    log: z.object({ level: logLevel.default('info') }).strict().default({ level: 'info' }),
    // Absent: no HTTP server (no /health, /metrics or admin API).
    http: z.object({ listen: httpListen }).strict().optional(),
    process: z
      .object({ shutdownTimeoutMs: z.number().int().min(0).max(600_000).default(5000) })
      .strict()
      .default({ shutdownTimeoutMs: 5000 }),
    // Absent: every remote domain allowed and local domains unrestricted, as before peering existed.
    peering: peering.default(() => ({ default: 'allow' as const, domains: {} })),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.presence.minExpires > c.presence.maxExpires) {
      ctx.addIssue({ code: 'custom', path: ['presence', 'minExpires'], message: `must not exceed presence.maxExpires, got ${c.presence.minExpires}` });
    }
    const sipDomains = new Set(c.sip.domains.map((d) => d.toLowerCase()));
    const seen = new Set<string>();
    c.xmpp?.components.forEach((comp, i) => {
      const domain = comp.domain.toLowerCase();
      // RFC 7247 'domain' addressing: the JID domain is the SIP domain, so it must be one Stox represents.
      if (comp.addressing === 'domain' && !sipDomains.has(domain)) {
        ctx.addIssue({ code: 'custom', path: ['xmpp', 'components', i, 'domain'], message: `'domain' addressing needs a domain listed in sip.domains, got "${comp.domain}"` });
      }
      if (comp.addressing === 'escaped' && sipDomains.has(domain)) {
        ctx.addIssue({ code: 'custom', path: ['xmpp', 'components', i, 'domain'], message: `an 'escaped' component needs its own domain, not one of sip.domains, got "${comp.domain}"` });
      }
      if (seen.has(domain)) ctx.addIssue({ code: 'custom', path: ['xmpp', 'components', i, 'domain'], message: `duplicate component domain, got "${comp.domain}"` });
      seen.add(domain);
    });
  })
  .superRefine((c, ctx) => {
    // A local domain lives on one side; listing it under the other protocol contradicts where its
    // traffic comes from, so it is an operator error rather than a rule to guess at.
    const sipDomains = new Set(c.sip.domains.map((d) => d.toLowerCase()));
    const escapedComponents = new Set(c.xmpp?.components.filter((comp) => comp.addressing === 'escaped').map((comp) => comp.domain.toLowerCase()));
    for (const [key, peer] of Object.entries(c.peering.domains)) {
      const domain = key.toLowerCase();
      const path = ['peering', 'domains', key, 'protocol'];
      if (sipDomains.has(domain) && peer.protocol !== 'sip') {
        ctx.addIssue({ code: 'custom', path, message: `a domain listed in sip.domains must have protocol sip, got "${peer.protocol}"` });
      }
      if (escapedComponents.has(domain) && peer.protocol !== 'xmpp') {
        ctx.addIssue({ code: 'custom', path, message: `an 'escaped' component domain must have protocol xmpp, got "${peer.protocol}"` });
      }
    }
  });

export type StoxConfig = z.infer<typeof configSchema>;
export type PeeringConfig = StoxConfig['peering'];
export type PeerDomainConfig = PeeringConfig['domains'][string];
