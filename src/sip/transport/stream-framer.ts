/**
 * RFC 3261 §18.3 framing for stream transports: a message is its header block (through the first empty
 * line) plus exactly Content-Length bytes of body. No SIP parsing happens here — only enough to know where
 * one message ends — so the framer stays cheap at line rate and testable without sockets.
 */

export type FramedItem =
  | { kind: 'message'; data: Buffer }
  /** RFC 5626 §3.5.1 keepalive ping (CRLFCRLF between messages); the connection answers with one CRLF. */
  | { kind: 'ping' }
  /** Fatal for the stream: nothing after it can be framed, so the framer ignores all further input. */
  | { kind: 'error'; reason: string; headerBlock?: Buffer; tooLarge?: boolean };

const CR = 0x0d;
const LF = 0x0a;
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

// Long or compact form at the start of a (unfolded) header line; the value is checked separately so that a
// malformed one is reported rather than silently treated as missing.
const CONTENT_LENGTH_LINE = /^(?:content-length|l)[ \t]*:(.*)$/gim;
const FOLD = /\r\n[ \t]+/g;
// Loose on purpose (any version, any token method) so the parser still gets to answer 505 or 405; this only
// has to catch a peer speaking something else entirely (TLS to the TCP port, HTTP, binary noise) early.
const START_LINE = /^(?:SIP\/\d+\.\d+ \d{3}(?: .*)?|[A-Za-z0-9!%*_+`'~.-]+ [^ ]+ SIP\/\d+\.\d+)$/i;
const CRLF = Buffer.from('\r\n', 'latin1');

export class StreamFramer {
  /**
   * Unconsumed bytes are store[start, end). A chunk that arrives with nothing pending is used as is; bytes
   * left over across reads go into an owned buffer that grows by doubling, so a peer trickling one byte per
   * segment costs O(1) per byte rather than a full copy per read. Emitted messages are views into the store;
   * that is safe because appends only ever write past `end`, and growing allocates a fresh buffer.
   */
  private store: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  private owned = false;
  /** Where the searches for the end of the start line / header block resume (relative to start). */
  private lineScanFrom = 0;
  private headerScanFrom = 0;
  private startLineChecked = false;
  /** Full length of the message being read once its header block is known; -1 while reading headers. */
  private expected = -1;
  private partial = false;
  private failed = false;
  private completed = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /** True while bytes of an unfinished message are buffered (CRLFs between messages do not count). */
  get hasPartialMessage(): boolean {
    return this.partial;
  }

  /** Messages emitted so far; lets the connection tell "still the same partial message" from "a new one". */
  get messagesCompleted(): number {
    return this.completed;
  }

  get hasFailed(): boolean {
    return this.failed;
  }

  push(chunk: Buffer): FramedItem[] {
    const out: FramedItem[] = [];
    if (this.failed || chunk.length === 0) return out;
    this.append(chunk);
    for (;;) {
      if (this.expected < 0) {
        if (!this.skipBetweenMessages(out)) {
          this.partial = false;
          return out;
        }
        if (!this.startLineChecked) {
          const lineEnd = this.find(CRLF, this.lineScanFrom);
          if (lineEnd >= 0) {
            if (!START_LINE.test(this.store.toString('latin1', this.start, this.start + lineEnd))) {
              return this.fail(out, { reason: 'Not a SIP start line' });
            }
            this.startLineChecked = true;
          } else {
            this.lineScanFrom = Math.max(0, Math.min(this.size, this.maxMessageBytes) - 1);
          }
        }
        const idx = this.find(HEADER_END, this.headerScanFrom);
        if (idx < 0) {
          if (this.size >= this.maxMessageBytes) {
            return this.fail(out, { reason: `Header block exceeds ${this.maxMessageBytes} bytes`, tooLarge: true });
          }
          this.headerScanFrom = Math.max(0, this.size - 3);
          this.partial = true;
          return out;
        }
        const headerEnd = idx + 4;
        const contentLength = readContentLength(this.store.toString('latin1', this.start, this.start + idx));
        if (typeof contentLength === 'string') {
          return this.fail(out, { reason: contentLength, headerBlock: this.copyOut(headerEnd) });
        }
        const total = headerEnd + contentLength;
        if (total > this.maxMessageBytes) {
          return this.fail(out, {
            reason: `Message of ${total} bytes exceeds ${this.maxMessageBytes} bytes`,
            headerBlock: this.copyOut(headerEnd),
            tooLarge: true,
          });
        }
        this.expected = total;
      }
      if (this.size < this.expected) {
        this.partial = true;
        return out;
      }
      out.push({ kind: 'message', data: this.store.subarray(this.start, this.start + this.expected) });
      this.consume(this.expected);
      this.expected = -1;
      this.startLineChecked = false;
      this.completed++;
    }
  }

  private get size(): number {
    return this.end - this.start;
  }

  private append(chunk: Buffer): void {
    const size = this.size;
    if (size === 0) {
      this.store = chunk;
      this.start = 0;
      this.end = chunk.length;
      this.owned = false;
      return;
    }
    if (this.owned && this.end + chunk.length <= this.store.length) {
      chunk.copy(this.store, this.end);
      this.end += chunk.length;
      return;
    }
    const need = size + chunk.length;
    const next = Buffer.allocUnsafe(Math.max(4096, need * 2));
    this.store.copy(next, 0, this.start, this.end);
    chunk.copy(next, size);
    this.store = next;
    this.start = 0;
    this.end = need;
    this.owned = true;
  }

  private consume(n: number): void {
    this.start += n;
    this.lineScanFrom = 0;
    this.headerScanFrom = 0;
    if (this.start === this.end) {
      // Drop the reference so a large buffer is not pinned by an idle connection.
      this.store = EMPTY;
      this.start = this.end = 0;
      this.owned = false;
    }
  }

  /** Offset of `needle` in the pending bytes, searched only within the size limit; -1 if not there yet. */
  private find(needle: Buffer, from: number): number {
    const stop = this.start + Math.min(this.size, this.maxMessageBytes);
    const idx = this.store.subarray(0, stop).indexOf(needle, this.start + from);
    return idx < 0 ? -1 : idx - this.start;
  }

  private copyOut(n: number): Buffer {
    return Buffer.from(this.store.subarray(this.start, this.start + n));
  }

  /**
   * Consume CRLFs before a message (RFC 3261 §7.5 says to ignore them), turning each CRLFCRLF into a ping.
   * Returns false when nothing but a possible start of a ping is buffered: a lone CRLF waits for the next
   * read, since a ping split across two segments must still be answered.
   */
  private skipBetweenMessages(out: FramedItem[]): boolean {
    const b = this.store;
    let i = this.start;
    for (;;) {
      const left = this.end - i;
      if (left < 2 || b[i] !== CR || b[i + 1] !== LF) break;
      if (left >= 4 && b[i + 2] === CR && b[i + 3] === LF) {
        out.push({ kind: 'ping' });
        i += 4;
        continue;
      }
      if (left === 2 || (left === 3 && b[i + 2] === CR)) break;
      i += 2;
    }
    if (i > this.start) this.consume(i - this.start);
    const left = this.size;
    if (left === 0) return false;
    // Up to three bytes of CR LF CR may be the first part of a ping; anything else starts a message.
    const s = this.start;
    return !(left <= 3 && b[s] === CR && (left < 2 || b[s + 1] === LF) && (left < 3 || b[s + 2] === CR));
  }

  private fail(out: FramedItem[], err: { reason: string; headerBlock?: Buffer; tooLarge?: boolean }): FramedItem[] {
    this.failed = true;
    this.partial = false;
    this.store = EMPTY;
    this.start = this.end = 0;
    out.push({ kind: 'error', ...err });
    return out;
  }
}

/** The Content-Length of a header block (start line included, final CRLFCRLF excluded), or why there is none. */
export function readContentLength(head: string): number | string {
  const firstLineEnd = head.indexOf('\r\n');
  if (firstLineEnd < 0) return 'Missing Content-Length on stream transport';
  const headers = head.slice(firstLineEnd + 2).replace(FOLD, ' ');
  let found: number | undefined;
  CONTENT_LENGTH_LINE.lastIndex = 0;
  for (let m = CONTENT_LENGTH_LINE.exec(headers); m; m = CONTENT_LENGTH_LINE.exec(headers)) {
    const raw = (m[1] ?? '').trim();
    if (!/^\d{1,10}$/.test(raw)) return `Invalid Content-Length ${JSON.stringify(raw.slice(0, 32))}`;
    const value = Number(raw);
    // Two different lengths would let a sender smuggle a second message past whoever reads the first.
    if (found !== undefined && found !== value) return 'Conflicting Content-Length headers';
    found = value;
  }
  return found ?? 'Missing Content-Length on stream transport';
}
