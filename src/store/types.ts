/**
 * What must survive a restart (reference §3.8), as the gateway sees it. The interface is synchronous on
 * purpose: the state machines emit "persist" actions and the gateway runs them before it acts on the wire,
 * so a write that returned is committed; there is no write-behind queue to lose on a crash.
 *
 * Times are integer milliseconds since the epoch (`Date.now()`); the tables are STRICT, so a fractional
 * value is refused rather than stored as a float nobody expects.
 */

/** One presence subscription, in either direction, as its state machine last persisted it. */
export interface SubscriptionRow {
  key: string;
  direction: 'x2s' | 's2x';
  xmppJid: string;
  /** The exact SIP URI form used on the wire: case and escaping matter (reference §1.5). */
  sipAor: string;
  expiresAt: number | null;
  /** The machine's own record, stored as JSON; the store never looks inside. */
  state: unknown;
  updatedAt: number;
}

/** The SIP dialog behind a subscription, persisted under the same `key` as its SubscriptionRow. */
export interface DialogRow {
  key: string;
  callId: string;
  localTag: string;
  remoteTag: string | null;
  localCseq: number;
  remoteCseq: number | null;
  routeSet: string[];
  remoteTarget: string | null;
  localUri: string;
  remoteUri: string;
  localContact: string | null;
  expiresAt: number | null;
  role: 'notifier' | 'subscriber';
  /** The RFC 6665 event package. Omitted on write means 'presence'; always present on read. */
  event?: string;
  /** Where to send, e.g. `{ transport, address, port }`; stored as JSON. */
  transport: unknown;
  updatedAt: number;
}

/** The last complete presence document of one contact (reference §3.8 "per contact" / "per XMPP user"). */
export interface DocumentRow {
  /** A bare JID (side 'xmpp') or a SIP AOR (side 'sip'). */
  contact: string;
  side: 'xmpp' | 'sip';
  /** Per-resource / per-tuple presence, stored as JSON. */
  document: unknown;
  updatedAt: number;
}

/**
 * Iteration (`all*`) reads in pages, so the connection is free between pages and the caller may write
 * (e.g. delete an expired row) while iterating. Rows changed before the cursor reaches them are seen
 * changed; rows deleted are not seen; rows added meanwhile may or may not be seen.
 *
 * Every method throws on a storage error (disk full, corrupt file): the caller decides whether that is fatal.
 */
export interface Store {
  putSubscription(r: SubscriptionRow): void;
  deleteSubscription(key: string): void;
  getSubscription(key: string): SubscriptionRow | undefined;
  allSubscriptions(): IterableIterator<SubscriptionRow>;
  countSubscriptions(): number;

  putDialog(r: DialogRow): void;
  deleteDialog(key: string): void;
  getDialog(key: string): DialogRow | undefined;
  allDialogs(): IterableIterator<DialogRow>;

  putDocument(r: DocumentRow): void;
  /** Without it the documents of contacts nobody watches any more would accumulate forever. */
  deleteDocument(contact: string, side: 'xmpp' | 'sip'): void;
  getDocument(contact: string, side: 'xmpp' | 'sip'): DocumentRow | undefined;
  allDocuments(): IterableIterator<DocumentRow>;

  /**
   * Many writes in one transaction (e.g. a burst of state changes): much faster than one by one, and
   * all-or-nothing: if `fn` throws, none of its writes happened and the error propagates. Nests (as a
   * savepoint). `fn` must be synchronous.
   */
  batch<T>(fn: () => T): T;

  /** The schema version of the open file, which is always the latest this code knows. */
  readonly schemaVersion: number;
  /** Idempotent. Any other call after close throws. */
  close(): void;
}
