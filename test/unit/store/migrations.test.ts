import Database from 'better-sqlite3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  LATEST_SCHEMA_VERSION,
  openStore,
  STORE_APPLICATION_ID,
  StoreSchemaError,
} from '../../../src/store/index.js';
import { MIGRATIONS } from '../../../src/store/migrations.js';
import { dialog, storeDir, subscription } from './rows.js';

const V1_SQL = readFileSync(join(import.meta.dirname, '../../fixtures/store/schema-v1.sql'), 'utf8');

/** Columns and indexes of every table, so two schemas can be compared regardless of SQL text layout. */
function describeSchema(file: string): unknown {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare<[], string>(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).pluck().all();
    return tables.map((t) => ({
      table: t,
      columns: db.pragma(`table_xinfo(${t})`),
      indexes: db.prepare(`SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? ORDER BY name`).all(t),
    }));
  } finally {
    db.close();
  }
}

function header(file: string): { userVersion: number; applicationId: number } {
  const db = new Database(file, { readonly: true });
  try {
    return {
      userVersion: Number(db.pragma('user_version', { simple: true })),
      applicationId: Number(db.pragma('application_id', { simple: true })),
    };
  } finally {
    db.close();
  }
}

describe('store schema migrations', () => {
  let tmp: ReturnType<typeof storeDir>;
  beforeEach(() => {
    tmp = storeDir();
  });
  afterEach(() => tmp.remove());

  it('numbers migrations 1..n without gaps, and knows at least two', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length);
    expect(LATEST_SCHEMA_VERSION).toBeGreaterThanOrEqual(2);
  });

  it('migration 1 is still the released v1 (fixture), so fielded v1 files migrate like fresh ones', () => {
    const normalise = (sql: string): string => sql.replace(/--[^\n]*/g, '').replace(/\s+/g, ' ').trim();
    const m1 = MIGRATIONS[0]?.up;
    expect(typeof m1).toBe('string');
    expect(normalise(m1 as string)).toBe(normalise(V1_SQL));
  });

  it('v0 (new, empty file) → latest', () => {
    const file = join(tmp.dir, 'fresh.db');
    expect(existsSync(file)).toBe(false);
    const store = openStore(file);
    expect(store.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
    store.close();
    expect(header(file)).toEqual({ userVersion: LATEST_SCHEMA_VERSION, applicationId: STORE_APPLICATION_ID });
  });

  it('v0 (an existing empty SQLite file, e.g. pre-created by an installer) → latest', () => {
    new Database(tmp.file).close();
    expect(header(tmp.file)).toEqual({ userVersion: 0, applicationId: 0 });
    openStore(tmp.file).close();
    expect(header(tmp.file).userVersion).toBe(LATEST_SCHEMA_VERSION);
  });

  it('v1 (built by hand from the frozen v1 SQL, with data) → latest, keeping the data', () => {
    const v1 = new Database(tmp.file);
    v1.exec(V1_SQL);
    const d = dialog(1);
    v1.prepare(
      `INSERT INTO dialogs (key, call_id, local_tag, remote_tag, local_cseq, remote_cseq, route_set, remote_target,
                            local_uri, remote_uri, local_contact, expires_at, role, transport, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(d.key, d.callId, d.localTag, d.remoteTag, d.localCseq, d.remoteCseq, JSON.stringify(d.routeSet), d.remoteTarget,
      d.localUri, d.remoteUri, d.localContact, d.expiresAt, d.role, JSON.stringify(d.transport), d.updatedAt);
    const s = subscription(1);
    v1.prepare(`INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?)`).run(
      s.key, s.direction, s.xmppJid, s.sipAor, s.expiresAt, JSON.stringify(s.state), s.updatedAt);
    v1.pragma('user_version = 1');
    v1.pragma(`application_id = ${STORE_APPLICATION_ID}`);
    v1.close();

    const store = openStore(tmp.file);
    try {
      expect(store.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
      // Migration 2's default is right for rows written before it: every v1 dialog was a presence dialog.
      expect(store.getDialog(d.key)).toEqual({ ...d, event: 'presence' });
      expect(store.getSubscription(s.key)).toEqual(s);
      store.putDialog(dialog(2, { event: 'conference' }));
      expect(store.getDialog(dialog(2).key)?.event).toBe('conference');
    } finally {
      store.close();
    }

    const fresh = join(tmp.dir, 'fresh.db');
    openStore(fresh).close();
    expect(describeSchema(tmp.file)).toEqual(describeSchema(fresh));
  });

  it('a v1 file without application_id (also how v1 looked) still migrates', () => {
    const v1 = new Database(tmp.file);
    v1.exec(V1_SQL);
    v1.pragma('user_version = 1');
    v1.close();
    openStore(tmp.file).close();
    expect(header(tmp.file)).toEqual({ userVersion: LATEST_SCHEMA_VERSION, applicationId: STORE_APPLICATION_ID });
  });

  it('a failing migration leaves the file exactly at its old version', () => {
    const v1 = new Database(tmp.file);
    v1.exec(V1_SQL);
    // Makes migration 2 (ADD COLUMN event) fail half-way through the opening transaction.
    v1.exec(`ALTER TABLE dialogs ADD COLUMN event TEXT`);
    v1.pragma('user_version = 1');
    v1.close();
    expect(() => openStore(tmp.file)).toThrow(/migration 2 .*left at version 1: duplicate column/);
    expect(header(tmp.file)).toEqual({ userVersion: 1, applicationId: 0 });
  });

  it('refuses a store from a newer Stox, naming both versions, and leaves it untouched', () => {
    openStore(tmp.file).close();
    const db = new Database(tmp.file);
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    db.close();
    const before = readFileSync(tmp.file);

    let err: unknown;
    try {
      openStore(tmp.file).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreSchemaError);
    const e = err as StoreSchemaError;
    expect(e.found).toBe(LATEST_SCHEMA_VERSION + 1);
    expect(e.supported).toBe(LATEST_SCHEMA_VERSION);
    expect(e.message).toContain(`schema version ${LATEST_SCHEMA_VERSION + 1}`);
    expect(e.message).toContain('newer Stox');
    expect(e.message).toContain(tmp.file);
    expect(readFileSync(tmp.file).equals(before)).toBe(true);
    expect(header(tmp.file).userVersion).toBe(LATEST_SCHEMA_VERSION + 1);
  });

  it("refuses another program's SQLite database instead of migrating into it", () => {
    const foreign = new Database(tmp.file);
    foreign.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`);
    foreign.close();
    expect(() => openStore(tmp.file)).toThrow(/not .*Stox|no Stox schema/);

    const other = join(tmp.dir, 'other.db');
    const app = new Database(other);
    app.pragma('application_id = 1234');
    app.close();
    expect(() => openStore(other)).toThrow(StoreSchemaError);
    expect(() => openStore(other)).toThrow(/application_id 1234/);
  });

  it('refuses a file that is not SQLite at all (store.path pointing at the config, say)', () => {
    writeFileSync(tmp.file, 'xmpp:\n  domain: example.com\n'.repeat(200));
    expect(() => openStore(tmp.file)).toThrow(/not a database/);
  });
});
