/**
 * Representative SIP messages shared by the benchmarks, the unit tests and the fuzzer. Each is a
 * string with CRLF line endings and a Content-Length computed from its (UTF-8) body.
 */

function message(startLine: string, headers: string[], body: string): string {
  const lines = [startLine, ...headers, `Content-Length: ${Buffer.byteLength(body, 'utf8')}`];
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

/** A page-mode instant message (RFC 3428) as a SIP/SIMPLE server forwards it: about 600 bytes. */
export const SAMPLE_MESSAGE: string = message(
  'MESSAGE sip:juliet@xmpp.example.org SIP/2.0',
  [
    'Via: SIP/2.0/TLS proxy.sip.example.com:5061;branch=z9hG4bK776sgdkse;received=192.0.2.4',
    'Via: SIP/2.0/TCP ua.sip.example.com:49172;branch=z9hG4bKnashds8;rport=49172',
    'Max-Forwards: 69',
    'From: "Romeo Montague" <sip:romeo@sip.example.com>;tag=49583',
    'To: <sip:juliet@xmpp.example.org>',
    'Call-ID: asd88asd77a@1.2.3.4',
    'CSeq: 1 MESSAGE',
    'Contact: <sip:romeo@ua.sip.example.com:49172;transport=tcp>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"',
    'Allow: INVITE, ACK, CANCEL, BYE, MESSAGE',
    'Content-Type: text/plain;charset=utf-8',
  ],
  'Art thou not Romeo, and a Montague? ¿Qué tal?',
);

/** A presence NOTIFY (RFC 3856) carrying a PIDF document (RFC 3863). */
export const SAMPLE_NOTIFY: string = message(
  'NOTIFY sip:juliet@xmpp.example.org;gr=urn:uuid:a-b-c SIP/2.0',
  [
    'Via: SIP/2.0/UDP pres.sip.example.com;branch=z9hG4bKna998sk',
    'Max-Forwards: 70',
    'From: <sip:romeo@sip.example.com>;tag=ffd2',
    'To: <sip:juliet@xmpp.example.org>;tag=xfg9',
    'Call-ID: 2010b@pres.sip.example.com',
    'CSeq: 8776 NOTIFY',
    'Event: presence',
    'Subscription-State: active;expires=3599',
    'Contact: <sip:pres.sip.example.com;transport=udp>',
    'Content-Type: application/pidf+xml',
  ],
  '<?xml version="1.0" encoding="UTF-8"?>\r\n' +
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:romeo@sip.example.com">\r\n' +
    '  <tuple id="mobile-im">\r\n' +
    '    <status><basic>open</basic></status>\r\n' +
    '    <contact priority="0.8">im:romeo@sip.example.com</contact>\r\n' +
    '    <note xml:lang="en">Under the balcony</note>\r\n' +
    '  </tuple>\r\n' +
    '</presence>\r\n',
);

/** An INVITE with an SDP offer for an MSRP chat session (RFC 4975). */
export const SAMPLE_INVITE: string = message(
  'INVITE sip:juliet@xmpp.example.org SIP/2.0',
  [
    'Via: SIP/2.0/TCP ua.sip.example.com:49172;branch=z9hG4bK74bf9;rport',
    'Max-Forwards: 70',
    'From: Romeo <sip:romeo@sip.example.com>;tag=9fxced76sl',
    'To: Juliet <sip:juliet@xmpp.example.org>',
    'Call-ID: 3848276298220188511@ua.sip.example.com',
    'CSeq: 2 INVITE',
    'Contact: <sip:romeo@ua.sip.example.com:49172;transport=tcp>',
    'Supported: timer, replaces',
    'Allow: INVITE, ACK, CANCEL, BYE, MESSAGE',
    'Content-Type: application/sdp',
  ],
  'v=0\r\n' +
    'o=romeo 2890844526 2890844527 IN IP4 ua.sip.example.com\r\n' +
    's=-\r\n' +
    'c=IN IP4 ua.sip.example.com\r\n' +
    't=0 0\r\n' +
    'm=message 7654 TCP/MSRP *\r\n' +
    'a=accept-types:message/cpim text/plain\r\n' +
    'a=path:msrp://ua.sip.example.com:7654/jshA7weztas;tcp\r\n',
);
