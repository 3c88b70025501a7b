import Database from 'better-sqlite3';
import type { Logger } from '../ops/logging.js';
import { StoreError, StoreSchemaError } from './errors.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.js';
import type { DialogRow, DocumentRow, Store, SubscriptionRow } from './types.js';

/** 'STOX' in the SQLite header, so we never migrate (and so damage) some other program's database. */
export const STORE_APPLICATION_ID = 0x53544f58;

export interface OpenStoreOptions {
  logger?: Logger;
  /** How long a write waits for another connection's lock (an operator's sqlite3 shell, a backup). */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) the store at `path`, or an in-memory one for ':memory:', and brings its
 * schema up to date.
 *
 * Durability: WAL with `synchronous = NORMAL`. A commit is in the WAL file (in the OS page cache) before
 * the call returns, so a crash or `kill -9` of Stox loses nothing committed. Only a power loss or kernel
 * crash can lose the last few commits (they were not fsynced yet); the file itself stays consistent.
 * That is the trade we want: `FULL` would fsync on every presence change.
 *
 * Throws StoreSchemaError for a file written by a newer Stox or by another program, StoreError when the
 * file cannot be opened at all.
 */
export function openStore(path: string, opts: OpenStoreOptions = {}): Store {
  const log = opts.logger?.child({ component: 'store' });
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5_000;
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: busyTimeoutMs });
  } catch (err) {
    throw new StoreError(`cannot open store ${path}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    // Identify the file before changing anything in it, journal mode included.
    const found = checkOwnership(db, path);
    const journalMode = configure(db, path, busyTimeoutMs, log);
    const from = migrate(db, path, found, log);
    log?.info(
      {
        path,
        schemaVersion: LATEST_SCHEMA_VERSION,
        migratedFrom: from === LATEST_SCHEMA_VERSION ? undefined : from,
        // Read back rather than assumed, so the log shows what SQLite actually granted.
        journalMode,
        synchronous: SYNCHRONOUS_NAMES[pragmaNumber(db, 'synchronous')] ?? 'unknown',
      },
      'store opened',
    );
    return new SqliteStore(db);
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    throw new StoreError(`cannot open store ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** What a reader of a store it does not own may do: look, never write. */
export type ReadOnlyStore = Pick<Store, 'allSubscriptions' | 'countSubscriptions' | 'allDialogs' | 'getDialog' | 'close' | 'schemaVersion'>;

/**
 * Opens an existing store for reading only (the admin CLI when no instance answers): no migration, no
 * journal-mode change, so it never touches a file a running or newer Stox owns. Throws StoreError when
 * the file is missing, StoreSchemaError when it is not a Stox store of this version.
 */
export function openStoreReadOnly(path: string): ReadOnlyStore {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new StoreError(`cannot open store ${path}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const appId = pragmaNumber(db, 'application_id');
    const version = pragmaNumber(db, 'user_version');
    if (appId !== STORE_APPLICATION_ID) {
      throw new StoreSchemaError(`${path} is not a Stox store (SQLite application_id ${appId})`, path, version, LATEST_SCHEMA_VERSION);
    }
    if (version !== LATEST_SCHEMA_VERSION) {
      throw new StoreSchemaError(`${path} has schema version ${version}; this Stox reads version ${LATEST_SCHEMA_VERSION}`, path, version, LATEST_SCHEMA_VERSION);
    }
    return new SqliteStore(db);
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    throw new StoreError(`cannot read store ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

function checkOwnership(db: Database.Database, path: string): number {
  const appId = pragmaNumber(db, 'application_id');
  const version = pragmaNumber(db, 'user_version');
  if (appId !== 0 && appId !== STORE_APPLICATION_ID) {
    throw new StoreSchemaError(`${path} is not a Stox store (SQLite application_id ${appId}); refusing to touch it`, path, version, LATEST_SCHEMA_VERSION);
  }
  if (version === 0 && appId === 0) {
    const tables = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'`).get()?.n ?? 0;
    if (tables > 0) {
      throw new StoreSchemaError(`${path} already holds ${tables} table(s) but no Stox schema version; refusing to touch it`, path, version, LATEST_SCHEMA_VERSION);
    }
  }
  if (version > LATEST_SCHEMA_VERSION) throw newerSchema(path, version);
  return version;
}

const SYNCHRONOUS_NAMES: Readonly<Record<number, string>> = { 0: 'off', 1: 'normal', 2: 'full', 3: 'extra' };

/** Returns the journal mode SQLite accepted. */
function configure(db: Database.Database, path: string, busyTimeoutMs: number, log: Logger | undefined): string {
  db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
  const mode = String(db.pragma('journal_mode = WAL', { simple: true }));
  // An in-memory database reports 'memory' and has nothing to make durable.
  if (mode !== 'wal' && !db.memory) {
    log?.warn({ path, journalMode: mode }, 'store: WAL not available on this filesystem; writes stay durable but slower');
  }
  db.pragma('synchronous = NORMAL');
  // A burst can grow the WAL; after the next checkpoint, give the space back instead of keeping the peak.
  db.pragma('journal_size_limit = 67108864');
  return mode;
}

function migrate(db: Database.Database, path: string, found: number, log: Logger | undefined): number {
  if (found === LATEST_SCHEMA_VERSION) return found;
  // IMMEDIATE takes the write lock before reading the version, so two processes opening an old file at
  // once cannot both run the same migration.
  db.transaction(() => {
    const current = pragmaNumber(db, 'user_version');
    if (current > LATEST_SCHEMA_VERSION) throw newerSchema(path, current);
    for (const [i, m] of MIGRATIONS.entries()) {
      if (m.version !== i + 1) throw new StoreError(`store migrations are misnumbered: entry ${i} says version ${m.version}`);
      if (m.version <= current) continue;
      log?.info({ path, version: m.version, description: m.description }, 'store: migrating schema');
      try {
        if (typeof m.up === 'string') db.exec(m.up);
        else m.up(db);
      } catch (err) {
        throw new StoreError(
          `store ${path}: migration ${m.version} (${m.description}) failed, file left at version ${current}: ${errorMessage(err)}`,
          { cause: err },
        );
      }
    }
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION}`);
    db.pragma(`application_id = ${STORE_APPLICATION_ID}`);
  }).immediate();
  return found;
}

function newerSchema(path: string, found: number): StoreSchemaError {
  return new StoreSchemaError(
    `store ${path} has schema version ${found} but this Stox knows versions up to ${LATEST_SCHEMA_VERSION}: ` +
      'it was written by a newer Stox. Run that version (or point store.path at another file); a store is never downgraded.',
    path,
    found,
    LATEST_SCHEMA_VERSION,
  );
}

function pragmaNumber(db: Database.Database, name: string): number {
  return Number(db.pragma(name, { simple: true }));
}

/** Rows per page when iterating: large enough to be fast, small enough to keep memory flat. */
const PAGE_ROWS = 1_000;

interface SubscriptionRecord {
  rid: number;
  key: string;
  direction: SubscriptionRow['direction'];
  xmpp_jid: string;
  sip_aor: string;
  expires_at: number | null;
  state: string;
  updated_at: number;
}

interface DialogRecord {
  rid: number;
  key: string;
  call_id: string;
  local_tag: string;
  remote_tag: string | null;
  local_cseq: number;
  remote_cseq: number | null;
  route_set: string;
  remote_target: string | null;
  local_uri: string;
  remote_uri: string;
  local_contact: string | null;
  expires_at: number | null;
  role: DialogRow['role'];
  event: string;
  transport: string;
  updated_at: number;
}

interface DocumentRecord {
  rid: number;
  contact: string;
  side: DocumentRow['side'];
  document: string;
  updated_at: number;
}

type Params = Record<string, string | number | null>;

class SqliteStore implements Store {
  readonly schemaVersion = LATEST_SCHEMA_VERSION;
  private readonly db: Database.Database;

  private readonly putSubStmt: Database.Statement<[Params]>;
  private readonly delSubStmt: Database.Statement<[string]>;
  private readonly getSubStmt: Database.Statement<[string], SubscriptionRecord>;
  private readonly pageSubStmt: Database.Statement<[number, number], unknown[]>;
  private readonly countSubStmt: Database.Statement<[], number>;

  private readonly putDlgStmt: Database.Statement<[Params]>;
  private readonly delDlgStmt: Database.Statement<[string]>;
  private readonly getDlgStmt: Database.Statement<[string], DialogRecord>;
  private readonly pageDlgStmt: Database.Statement<[number, number], unknown[]>;

  private readonly putDocStmt: Database.Statement<[Params]>;
  private readonly delDocStmt: Database.Statement<[string, string]>;
  private readonly getDocStmt: Database.Statement<[string, string], DocumentRecord>;
  private readonly pageDocStmt: Database.Statement<[number, number], DocumentRecord>;

  constructor(db: Database.Database) {
    this.db = db;
    this.putSubStmt = db.prepare(`
      INSERT INTO subscriptions (key, direction, xmpp_jid, sip_aor, expires_at, state, updated_at)
      VALUES (@key, @direction, @xmppJid, @sipAor, @expiresAt, @state, @updatedAt)
      ON CONFLICT (key) DO UPDATE SET
        direction = excluded.direction, xmpp_jid = excluded.xmpp_jid, sip_aor = excluded.sip_aor,
        expires_at = excluded.expires_at, state = excluded.state, updated_at = excluded.updated_at`);
    this.delSubStmt = db.prepare(`DELETE FROM subscriptions WHERE key = ?`);
    this.getSubStmt = db.prepare(`SELECT rowid AS rid, * FROM subscriptions WHERE key = ?`);
    // The pages a restart reads in full are fetched as arrays (raw): better-sqlite3 builds a keyed object
    // per row otherwise, which is half the time of reading 100k rows.
    this.pageSubStmt = db
      .prepare<[number, number], unknown[]>(`SELECT rowid, ${SUB_COLUMNS} FROM subscriptions WHERE rowid > ? ORDER BY rowid LIMIT ?`)
      .raw(true);
    this.countSubStmt = db.prepare<[], number>(`SELECT count(*) FROM subscriptions`).pluck();

    this.putDlgStmt = db.prepare(`
      INSERT INTO dialogs (key, call_id, local_tag, remote_tag, local_cseq, remote_cseq, route_set, remote_target,
                           local_uri, remote_uri, local_contact, expires_at, role, event, transport, updated_at)
      VALUES (@key, @callId, @localTag, @remoteTag, @localCseq, @remoteCseq, @routeSet, @remoteTarget,
              @localUri, @remoteUri, @localContact, @expiresAt, @role, @event, @transport, @updatedAt)
      ON CONFLICT (key) DO UPDATE SET
        call_id = excluded.call_id, local_tag = excluded.local_tag, remote_tag = excluded.remote_tag,
        local_cseq = excluded.local_cseq, remote_cseq = excluded.remote_cseq, route_set = excluded.route_set,
        remote_target = excluded.remote_target, local_uri = excluded.local_uri, remote_uri = excluded.remote_uri,
        local_contact = excluded.local_contact, expires_at = excluded.expires_at, role = excluded.role,
        event = excluded.event, transport = excluded.transport, updated_at = excluded.updated_at`);
    this.delDlgStmt = db.prepare(`DELETE FROM dialogs WHERE key = ?`);
    this.getDlgStmt = db.prepare(`SELECT rowid AS rid, * FROM dialogs WHERE key = ?`);
    this.pageDlgStmt = db
      .prepare<[number, number], unknown[]>(`SELECT rowid, ${DLG_COLUMNS} FROM dialogs WHERE rowid > ? ORDER BY rowid LIMIT ?`)
      .raw(true);

    this.putDocStmt = db.prepare(`
      INSERT INTO documents (contact, side, document, updated_at) VALUES (@contact, @side, @document, @updatedAt)
      ON CONFLICT (contact, side) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at`);
    this.delDocStmt = db.prepare(`DELETE FROM documents WHERE contact = ? AND side = ?`);
    this.getDocStmt = db.prepare(`SELECT rowid AS rid, * FROM documents WHERE contact = ? AND side = ?`);
    this.pageDocStmt = db.prepare(`SELECT rowid AS rid, * FROM documents WHERE rowid > ? ORDER BY rowid LIMIT ?`);
  }

  putSubscription(r: SubscriptionRow): void {
    this.putSubStmt.run({
      key: r.key,
      direction: r.direction,
      xmppJid: r.xmppJid,
      sipAor: r.sipAor,
      expiresAt: r.expiresAt,
      state: toJson(r.state, `subscription ${r.key}: state`),
      updatedAt: r.updatedAt,
    });
  }

  deleteSubscription(key: string): void {
    this.delSubStmt.run(key);
  }

  getSubscription(key: string): SubscriptionRow | undefined {
    const rec = this.getSubStmt.get(key);
    return rec && subscriptionFromRecord(rec);
  }

  allSubscriptions(): IterableIterator<SubscriptionRow> {
    return pagedRaw(this.pageSubStmt, subscriptionFromRaw);
  }

  countSubscriptions(): number {
    return this.countSubStmt.get() ?? 0;
  }

  putDialog(r: DialogRow): void {
    this.putDlgStmt.run({
      key: r.key,
      callId: r.callId,
      localTag: r.localTag,
      remoteTag: r.remoteTag,
      localCseq: r.localCseq,
      remoteCseq: r.remoteCseq,
      routeSet: toJson(r.routeSet, `dialog ${r.key}: routeSet`),
      remoteTarget: r.remoteTarget,
      localUri: r.localUri,
      remoteUri: r.remoteUri,
      localContact: r.localContact,
      expiresAt: r.expiresAt,
      role: r.role,
      event: r.event ?? 'presence',
      transport: toJson(r.transport, `dialog ${r.key}: transport`),
      updatedAt: r.updatedAt,
    });
  }

  deleteDialog(key: string): void {
    this.delDlgStmt.run(key);
  }

  getDialog(key: string): DialogRow | undefined {
    const rec = this.getDlgStmt.get(key);
    return rec && dialogFromRecord(rec);
  }

  allDialogs(): IterableIterator<DialogRow> {
    return pagedRaw(this.pageDlgStmt, dialogFromRaw);
  }

  putDocument(r: DocumentRow): void {
    this.putDocStmt.run({
      contact: r.contact,
      side: r.side,
      document: toJson(r.document, `document ${r.side}:${r.contact}`),
      updatedAt: r.updatedAt,
    });
  }

  deleteDocument(contact: string, side: 'xmpp' | 'sip'): void {
    this.delDocStmt.run(contact, side);
  }

  getDocument(contact: string, side: 'xmpp' | 'sip'): DocumentRow | undefined {
    const rec = this.getDocStmt.get(contact, side);
    return rec && documentFromRecord(rec);
  }

  allDocuments(): IterableIterator<DocumentRow> {
    return paged(this.pageDocStmt, documentFromRecord);
  }

  batch<T>(fn: () => T): T {
    // IMMEDIATE: take the write lock up front rather than fail with SQLITE_BUSY half-way through.
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Keyset paging on rowid rather than one long `iterate()`: better-sqlite3 refuses any other statement on
 * the connection while an iterator is open, and the gateway does write while walking its state at start.
 */
function* paged<R extends { rid: number }, T>(
  stmt: Database.Statement<[number, number], R>,
  map: (rec: R) => T,
): Generator<T, undefined, undefined> {
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const recs = stmt.all(after, PAGE_ROWS);
    for (const rec of recs) yield map(rec);
    const last = recs[recs.length - 1];
    if (recs.length < PAGE_ROWS || last === undefined) return undefined;
    after = last.rid;
  }
}

/** Same as `paged`, for raw statements whose first column is the rowid. */
function* pagedRaw<T>(stmt: Database.Statement<[number, number], unknown[]>, map: (row: unknown[]) => T): Generator<T, undefined, undefined> {
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = stmt.all(after, PAGE_ROWS);
    for (const row of rows) yield map(row);
    const last = rows[rows.length - 1];
    if (rows.length < PAGE_ROWS || last === undefined) return undefined;
    after = last[0] as number;
  }
}

// Column lists of the raw pages, in the order the *FromRaw functions read them (after the rowid).
const SUB_COLUMNS = 'key, direction, xmpp_jid, sip_aor, expires_at, state, updated_at';
const DLG_COLUMNS =
  'key, call_id, local_tag, remote_tag, local_cseq, remote_cseq, route_set, remote_target, local_uri, remote_uri, local_contact, expires_at, role, event, transport, updated_at';

function subscriptionFromRaw(r: unknown[]): SubscriptionRow {
  const key = r[1] as string;
  return {
    key,
    direction: r[2] as SubscriptionRow['direction'],
    xmppJid: r[3] as string,
    sipAor: r[4] as string,
    expiresAt: r[5] as number | null,
    state: fromJson(r[6] as string, `subscriptions.state of ${key}`),
    updatedAt: r[7] as number,
  };
}

function dialogFromRaw(r: unknown[]): DialogRow {
  const key = r[1] as string;
  return {
    key,
    callId: r[2] as string,
    localTag: r[3] as string,
    remoteTag: r[4] as string | null,
    localCseq: r[5] as number,
    remoteCseq: r[6] as number | null,
    routeSet: fromJson(r[7] as string, `dialogs.route_set of ${key}`) as string[],
    remoteTarget: r[8] as string | null,
    localUri: r[9] as string,
    remoteUri: r[10] as string,
    localContact: r[11] as string | null,
    expiresAt: r[12] as number | null,
    role: r[13] as DialogRow['role'],
    event: r[14] as string,
    transport: fromJson(r[15] as string, `dialogs.transport of ${key}`),
    updatedAt: r[16] as number,
  };
}

function subscriptionFromRecord(rec: SubscriptionRecord): SubscriptionRow {
  return {
    key: rec.key,
    direction: rec.direction,
    xmppJid: rec.xmpp_jid,
    sipAor: rec.sip_aor,
    expiresAt: rec.expires_at,
    state: fromJson(rec.state, `subscriptions.state of ${rec.key}`),
    updatedAt: rec.updated_at,
  };
}

function dialogFromRecord(rec: DialogRecord): DialogRow {
  return {
    key: rec.key,
    callId: rec.call_id,
    localTag: rec.local_tag,
    remoteTag: rec.remote_tag,
    localCseq: rec.local_cseq,
    remoteCseq: rec.remote_cseq,
    routeSet: fromJson(rec.route_set, `dialogs.route_set of ${rec.key}`) as string[],
    remoteTarget: rec.remote_target,
    localUri: rec.local_uri,
    remoteUri: rec.remote_uri,
    localContact: rec.local_contact,
    expiresAt: rec.expires_at,
    role: rec.role,
    event: rec.event,
    transport: fromJson(rec.transport, `dialogs.transport of ${rec.key}`),
    updatedAt: rec.updated_at,
  };
}

function documentFromRecord(rec: DocumentRecord): DocumentRow {
  return {
    contact: rec.contact,
    side: rec.side,
    document: fromJson(rec.document, `documents.document of ${rec.side}:${rec.contact}`),
    updatedAt: rec.updated_at,
  };
}

function toJson(value: unknown, what: string): string {
  // JSON.stringify returns undefined (despite its type) for undefined, functions and symbols.
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new TypeError(`${what} is not JSON-serialisable (${typeof value})`);
  return json;
}

function fromJson(json: string, what: string): unknown {
  // What most dialogs hold (no route set, no transport), without the parser.
  if (json === '[]') return [];
  if (json === 'null') return null;
  try {
    return JSON.parse(json) as unknown;
  } catch (err) {
    throw new StoreError(`store: corrupt JSON in ${what}: ${errorMessage(err)}`, { cause: err });
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
