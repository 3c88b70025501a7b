import { describe, expect, it } from 'vitest';
import { ContentTypeError, formatContentType, parseContentType } from '../../../src/formats/content-type.js';

describe('parseContentType (RFC 2045 §5.1, RFC 3261 §20.15)', () => {
  it('lower-cases type and parameter names, keeps values', () => {
    const ct = parseContentType('Text/Plain; Charset=UTF-8');
    expect(ct.type).toBe('text/plain');
    expect(ct.params.get('charset')).toBe('UTF-8');
  });

  it('accepts LWS around / ; = and quoted values with escapes', () => {
    const ct = parseContentType('multipart/mixed ; boundary = "a \\"b\\"; c" ;x=1');
    expect(ct.type).toBe('multipart/mixed');
    expect(ct.params.get('boundary')).toBe('a "b"; c');
    expect(ct.params.get('x')).toBe('1');
  });

  it('tolerates a trailing semicolon', () => {
    expect(parseContentType('text/plain;').params.size).toBe(0);
  });

  it.each(['text', 'text/', '/plain', 'text/plain; charset', 'text/plain; charset="utf-8', 'text/plain\r\nX-Evil: 1', 'text/pl ain'])(
    'refuses %j',
    (v) => {
      expect(() => parseContentType(v)).toThrow(ContentTypeError);
    },
  );

  it('refuses a repeated parameter (two charsets would be read two ways)', () => {
    expect(() => parseContentType('text/plain;charset=utf-8;charset=latin1')).toThrow(ContentTypeError);
  });
});

describe('formatContentType', () => {
  it('quotes values that are not tokens and round-trips', () => {
    const s = formatContentType({ type: 'text/plain', params: new Map([['charset', 'UTF-8'], ['x', 'a b"c']]) });
    expect(s).toBe('text/plain;charset=UTF-8;x="a b\\"c"');
    expect(parseContentType(s).params.get('x')).toBe('a b"c');
  });

  it('refuses CR/LF in a value', () => {
    expect(() => formatContentType({ type: 'text/plain', params: new Map([['x', 'a\r\nb']]) })).toThrow(ContentTypeError);
  });
});
