import Database from 'better-sqlite3';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/ops/logging.js';
import { openStore, StoreError, type Store } from '../../../src/store/index.js';
import { dialog, document, storeDir, subscription } from './rows.js';

describe('SQLite store (reference §3.8: the presence state kept across restarts)', () => {
  let tmp: ReturnType<typeof storeDir>;
  let store: Store;

  beforeEach(() => {
    tmp = storeDir();
    store = openStore(tmp.file);
  });
  afterEach(() => {
    store.close();
    tmp.remove();
  });

  describe('subscriptions', () => {
    it('puts, gets, replaces, counts and deletes by key', () => {
      expect(store.getSubscription('nope')).toBeUndefined();
      const a = subscription(1);
      store.putSubscription(a);
      store.putSubscription(subscription(2));
      expect(store.getSubscription(a.key)).toEqual(a);
      expect(store.countSubscriptions()).toBe(2);

      const changed = subscription(1, { expiresAt: null, state: { kind: 'x2s', auth: 'none' }, updatedAt: a.updatedAt + 1 });
      store.putSubscription(changed);
      expect(store.getSubscription(a.key)).toEqual(changed);
      expect(store.countSubscriptions()).toBe(2);

      store.deleteSubscription(a.key);
      store.deleteSubscription(a.key); // deleting what is gone is not an error: actions may repeat
      expect(store.getSubscription(a.key)).toBeUndefined();
      expect(store.countSubscriptions()).toBe(1);
    });

    it('round-trips the JSON state exactly, including unicode, quotes and nesting', () => {
      const state = { a: [1, 2.5, -0.125, null, true, 'x'], b: { 'key with "quotes"': '日本語 \u0000 \n' }, big: 2 ** 52 };
      store.putSubscription(subscription(3, { state }));
      expect(store.getSubscription(subscription(3).key)?.state).toEqual(state);
      // Scalars are valid machine records too.
      store.putSubscription(subscription(4, { state: 'pending' }));
      expect(store.getSubscription(subscription(4).key)?.state).toBe('pending');
      store.putSubscription(subscription(5, { state: null }));
      expect(store.getSubscription(subscription(5).key)?.state).toBeNull();
    });

    it('keeps the SIP AOR exactly as given (case and escaping matter, reference §1.5)', () => {
      const sipAor = 'sip:Juliet%40Example.Com@Sip.Example;Transport=TCP';
      store.putSubscription(subscription(6, { sipAor }));
      expect(store.getSubscription(subscription(6).key)?.sipAor).toBe(sipAor);
    });

    it('iterates all rows, and allows writes while iterating', () => {
      for (let i = 0; i < 2_500; i++) store.putSubscription(subscription(i));
      const seen: string[] = [];
      for (const row of store.allSubscriptions()) {
        seen.push(row.key);
        // Crosses page boundaries (1000 rows) while deleting: the gateway purges expired rows at start.
        if (row.direction === 's2x') store.deleteSubscription(row.key);
      }
      expect(new Set(seen).size).toBe(2_500);
      expect(store.countSubscriptions()).toBe(1_250);
      expect([...store.allSubscriptions()].every((r) => r.direction === 'x2s')).toBe(true);
    });

    it('refuses a state that cannot be stored as JSON, and writes nothing', () => {
      expect(() => store.putSubscription(subscription(7, { state: undefined }))).toThrow(/not JSON-serialisable/);
      expect(() => store.putSubscription(subscription(7, { state: { n: 1n } }))).toThrow(TypeError);
      expect(store.countSubscriptions()).toBe(0);
    });

    it('refuses values the schema does not allow', () => {
      expect(() => store.putSubscription(subscription(8, { direction: 'sideways' as 'x2s' }))).toThrow(/CHECK/);
      // Times are integer ms; STRICT refuses a fraction instead of silently storing a float.
      expect(() => store.putSubscription(subscription(8, { expiresAt: 1.5 }))).toThrow(/REAL|INTEGER/);
      expect(store.countSubscriptions()).toBe(0);
    });
  });

  describe('dialogs', () => {
    it('puts, gets, replaces and deletes by key, with route set and transport as JSON', () => {
      const d = dialog(1);
      store.putDialog(d);
      expect(store.getDialog(d.key)).toEqual({ ...d, event: 'presence' });

      const confirmed = dialog(1, {
        remoteTag: 'rt-new',
        remoteCseq: 7,
        routeSet: [],
        localCseq: 42,
        transport: { transport: 'tls', address: '2001:db8::1', port: 5061 },
        event: 'presence.winfo',
      });
      store.putDialog(confirmed);
      expect(store.getDialog(d.key)).toEqual(confirmed);

      store.deleteDialog(d.key);
      expect(store.getDialog(d.key)).toBeUndefined();
    });

    it('keeps nulls as nulls (an early dialog has no remote tag or CSeq yet)', () => {
      const d = dialog(5, { remoteTarget: null, localContact: null, expiresAt: null });
      expect(d.remoteTag).toBeNull();
      store.putDialog(d);
      expect(store.getDialog(d.key)).toEqual({ ...d, event: 'presence' });
    });

    it('is independent of the subscription under the same key', () => {
      store.putSubscription(subscription(1));
      store.putDialog(dialog(1));
      store.deleteDialog(dialog(1).key);
      expect(store.getSubscription(subscription(1).key)).toBeDefined();
    });

    it('iterates all dialogs', () => {
      for (let i = 0; i < 1_001; i++) store.putDialog(dialog(i));
      expect([...store.allDialogs()].map((d) => d.key)).toEqual(Array.from({ length: 1_001 }, (_, i) => dialog(i).key));
    });
  });

  describe('documents', () => {
    it('keys by (contact, side): the same address may have a document on each side', () => {
      const x = document('juliet@example.com', 'xmpp');
      const s = document('juliet@example.com', 'sip', { document: { tuples: {} } });
      store.putDocument(x);
      store.putDocument(s);
      expect(store.getDocument('juliet@example.com', 'xmpp')).toEqual(x);
      expect(store.getDocument('juliet@example.com', 'sip')).toEqual(s);

      const newer = document('juliet@example.com', 'xmpp', { document: { resources: ['balcony'] }, updatedAt: x.updatedAt + 5 });
      store.putDocument(newer);
      expect(store.getDocument('juliet@example.com', 'xmpp')).toEqual(newer);
      expect([...store.allDocuments()]).toHaveLength(2);

      store.deleteDocument('juliet@example.com', 'xmpp');
      expect(store.getDocument('juliet@example.com', 'xmpp')).toBeUndefined();
      expect(store.getDocument('juliet@example.com', 'sip')).toEqual(s);
    });
  });

  describe('batch', () => {
    it('commits all writes together and returns the function result', () => {
      const n = store.batch(() => {
        for (let i = 0; i < 100; i++) {
          store.putSubscription(subscription(i));
          store.putDialog(dialog(i));
        }
        return 100;
      });
      expect(n).toBe(100);
      expect(store.countSubscriptions()).toBe(100);
      expect([...store.allDialogs()]).toHaveLength(100);
    });

    it('rolls back every write when the function throws, and rethrows', () => {
      store.putSubscription(subscription(0));
      expect(() =>
        store.batch(() => {
          store.putSubscription(subscription(0, { state: 'changed' }));
          store.deleteSubscription(subscription(0).key);
          store.putSubscription(subscription(1));
          store.putDialog(dialog(1));
          store.putDocument(document('a@b', 'xmpp'));
          throw new Error('machine failed mid-burst');
        }),
      ).toThrow('machine failed mid-burst');
      expect(store.getSubscription(subscription(0).key)).toEqual(subscription(0));
      expect(store.countSubscriptions()).toBe(1);
      expect(store.getDialog(dialog(1).key)).toBeUndefined();
      expect(store.getDocument('a@b', 'xmpp')).toBeUndefined();
    });

    it('rolls back when a write inside fails (bad row), keeping the rows before it out too', () => {
      expect(() =>
        store.batch(() => {
          store.putSubscription(subscription(1));
          store.putSubscription(subscription(2, { state: undefined }));
        }),
      ).toThrow(TypeError);
      expect(store.countSubscriptions()).toBe(0);
    });

    it('nests: an inner batch that throws and is caught undoes only its own writes', () => {
      store.batch(() => {
        store.putSubscription(subscription(1));
        try {
          store.batch(() => {
            store.putSubscription(subscription(2));
            throw new Error('inner');
          });
        } catch {
          // the outer burst goes on
        }
        store.putSubscription(subscription(3));
      });
      expect([...store.allSubscriptions()].map((r) => r.key).sort()).toEqual([subscription(1).key, subscription(3).key].sort());
    });

    it('refuses an async function (its writes would land outside the transaction)', () => {
      expect(() => store.batch(async () => store.putSubscription(subscription(1)))).toThrow(/promise/);
      expect(store.countSubscriptions()).toBe(0);
    });
  });

  describe('durability settings', () => {
    it('runs in WAL mode with synchronous = NORMAL', () => {
      store.putSubscription(subscription(1));
      // A second connection sees what the first committed, and the WAL mode is persistent in the file.
      const other = new Database(tmp.file, { readonly: true });
      try {
        expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(other.prepare('SELECT count(*) FROM subscriptions').pluck().get()).toBe(1);
      } finally {
        other.close();
      }
      // synchronous is per connection, so read it back from the store's own report of its settings.
      store.close();
      const lines: string[] = [];
      const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString('utf8')), done()) });
      store = openStore(tmp.file, { logger: createLogger('info', sink) });
      const opened = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'store opened');
      expect(opened).toMatchObject({ component: 'store', journalMode: 'wal', synchronous: 'normal', schemaVersion: store.schemaVersion });
    });

    it('commits each put immediately: a second connection sees it without close or batch', () => {
      const reader = new Database(tmp.file, { readonly: true });
      try {
        store.putDialog(dialog(9));
        expect(reader.prepare('SELECT call_id FROM dialogs WHERE key = ?').pluck().get(dialog(9).key)).toBe(dialog(9).callId);
      } finally {
        reader.close();
      }
    });
  });

  describe('lifecycle', () => {
    it('keeps data across close and reopen', () => {
      store.putSubscription(subscription(1));
      store.putDialog(dialog(1));
      store.putDocument(document('romeo@example.net', 'xmpp'));
      store.close();
      store = openStore(tmp.file);
      expect(store.getSubscription(subscription(1).key)).toEqual(subscription(1));
      expect(store.getDialog(dialog(1).key)).toEqual({ ...dialog(1), event: 'presence' });
      expect(store.getDocument('romeo@example.net', 'xmpp')).toEqual(document('romeo@example.net', 'xmpp'));
    });

    it('close is idempotent; use after close throws', () => {
      store.close();
      store.close();
      expect(() => store.getSubscription('k')).toThrow(/not open/);
    });

    it('works in memory', () => {
      const mem = openStore(':memory:');
      try {
        mem.putSubscription(subscription(1));
        expect(mem.countSubscriptions()).toBe(1);
        expect(mem.schemaVersion).toBeGreaterThanOrEqual(2);
      } finally {
        mem.close();
      }
    });

    it('names the path when the file cannot be opened', () => {
      const bad = `${tmp.dir}/missing-dir/stox.db`;
      expect(() => openStore(bad)).toThrow(StoreError);
      expect(() => openStore(bad)).toThrow(bad);
    });

    it('reports corrupt JSON as a StoreError naming the row', () => {
      store.putSubscription(subscription(1));
      const raw = new Database(tmp.file);
      try {
        raw.prepare(`UPDATE subscriptions SET state = '{oops' WHERE key = ?`).run(subscription(1).key);
      } finally {
        raw.close();
      }
      expect(() => store.getSubscription(subscription(1).key)).toThrow(StoreError);
      expect(() => store.getSubscription(subscription(1).key)).toThrow(subscription(1).key);
    });
  });
});
