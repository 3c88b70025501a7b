import { z } from 'zod';
import { parseListenUrl } from '../sip/transport/listen-url.js';

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

const sipUri = z.string().regex(/^sips?:[^\s<>"]+$/i, { message: 'expected a SIP URI such as sip:127.0.0.1:5070;lr' });

const tlsFiles = z
  .object({
    cert: z.string().min(1),
    key: z.string().min(1),
    ca: z.string().min(1).optional(),
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
      })
      .strict()
      .superRefine((sip, ctx) => {
        sip.listen.forEach((url, i) => {
          if (/^tls:/i.test(url) && !sip.tls) {
            ctx.addIssue({ code: 'custom', path: ['listen', i], message: 'a tls:// listener needs sip.tls (cert and key)' });
          }
        });
      }),
    log: z.object({ level: logLevel.default('info') }).strict().default({ level: 'info' }),
  })
  .strict();

export type StoxConfig = z.infer<typeof configSchema>;
