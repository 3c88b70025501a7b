import { describe, expect, it } from 'vitest';
import { parseListenUrl } from '../../../../src/sip/transport/listen-url.js';

describe('parseListenUrl', () => {
  it('parses the three transports, IPv6 in brackets and names', () => {
    expect(parseListenUrl('udp://127.0.0.1:5060')).toEqual({ transport: 'udp', host: '127.0.0.1', port: 5060 });
    expect(parseListenUrl('tcp://[::1]:5060')).toEqual({ transport: 'tcp', host: '::1', port: 5060 });
    expect(parseListenUrl('TLS://sip.example.com:5061')).toEqual({ transport: 'tls', host: 'sip.example.com', port: 5061 });
    expect(parseListenUrl('udp://0.0.0.0:0')).toEqual({ transport: 'udp', host: '0.0.0.0', port: 0 });
  });

  it.each(['', 'udp://127.0.0.1', 'sctp://127.0.0.1:5060', 'udp://::1:5060', 'tcp://[127.0.0.1]:5060', 'udp://127.0.0.1:65536', 'udp://127.0.0.1:5060/x', 'udp://a b:5060', '127.0.0.1:5060'])(
    'refuses %j',
    (url) => {
      expect(() => parseListenUrl(url)).toThrow(`expected udp://host:port, got ${JSON.stringify(url)}`);
    },
  );
});
