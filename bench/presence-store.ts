import { copyFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { openStore, type DialogRow, type Store, type SubscriptionRow } from '../src/store/index.js';
import { SUBSCRIPTION_RECORD_VERSION, type SubscriptionRecord } from '../src/core/subscriptions/index.js';

/**
 * Persisted presence state for the memory and resume benchmarks, written through the real store API in
 * the shapes src/gateway/presence.ts writes (its `persist` action and `persistDialog`, dialogs built by
 * src/sip/dialog.ts), so `PresenceBridge.restore()` takes them as it would after a restart. bench/presence.ts
 * compares these shapes with the rows a live Stox wrote during the NOTIFY benchmark.
 *
 * - X2S: XMPP user `u<i % users>@xmppDomain` watches SIP contact `c<i>@sipDomain`; authorization
 *   granted, dialog alive (expires in an hour), so a restart re-SUBSCRIBEs in the stored dialog.
 * - S2X: SIP watcher `w<i>@sipDomain` watches XMPP user `x<i % users>@xmppDomain`; `active`, dialog alive,
 *   so a restart probes the XMPP user at the dialog's paced slot and the dialog stays held.
 * Every subscription has its own dialog, and its SIP peer sits at `peer` (the benchmark's sipp UAS).
 */
export interface StoreShape {
  x2s: number;
  s2x: number;
  /** XMPP users the subscriptions are spread over (each has x2s/users + s2x/users of them). */
  users: number;
  sipDomain: string;
  xmppDomain: string;
  /** host:port of the SIP peer (remote targets and Record-Route). */
  peer: string;
  now: number;
}

/**
 * Identifiers with the lengths and alphabets Stox and sipp use (random hex tags, base64url Call-IDs), made
 * from a per-process random prefix and the row number: unique, and without a random draw per row, which
 * would be most of the time it takes to write 100k rows.
 */
const RUN = randomBytes(8).toString('hex');
const hex = (n: number, i: number): string => (RUN + i.toString(16)).slice(-2 * n).padStart(2 * n, '0');
const base64url = (n: number, i: number): string => Buffer.from(RUN + i.toString(36)).toString('base64url').slice(-Math.ceil((n * 4) / 3));

export function x2sRows(i: number, s: StoreShape): { sub: SubscriptionRow; dialog: DialogRow } {
  const user = `u${i % s.users}@${s.xmppDomain}`;
  const contact = `c${i}@${s.sipDomain}`;
  const key = `x2s ${user} ${contact}`;
  const expiresAt = s.now + 3_600_000 - (i % 3_000) * 1000;
  const record: SubscriptionRecord = {
    v: SUBSCRIPTION_RECORD_VERSION,
    key,
    direction: 'x2s',
    xmppJid: user,
    sipAor: `sip:${contact}`,
    sipJid: contact,
    authorization: 'granted',
    state: 'subscribed',
    expiresAt,
    expires: 3600,
    subscribedSent: true,
    pendingApproval: false,
    retryCount: 0,
    retryAt: 0,
  };
  return {
    sub: { key, direction: 'x2s', xmppJid: user, sipAor: record.sipAor, expiresAt, state: record, updatedAt: s.now },
    dialog: {
      key,
      callId: `${base64url(12, i)}@stox`,
      localTag: hex(8, i),
      remoteTag: `${hex(4, i)}N${i}`,
      localCseq: 1,
      // What the bridge writes when the 2xx came before the first NOTIFY: it does not write remote CSeqs.
      remoteCseq: null,
      routeSet: [],
      remoteTarget: `sip:notifier@${s.peer};transport=UDP`,
      localUri: `<sip:${user}>`,
      remoteUri: `<sip:${contact}>`,
      localContact: null,
      expiresAt: null,
      role: 'subscriber',
      event: 'presence',
      transport: null,
      updatedAt: s.now,
    },
  };
}

export function s2xRows(i: number, s: StoreShape): { sub: SubscriptionRow; dialog: DialogRow } {
  const presentity = `x${i % s.users}@${s.xmppDomain}`;
  const watcher = `w${i}@${s.sipDomain}`;
  const callId = `${i}-${hex(4, i * 7)}@127.0.0.1`;
  const fromTag = `${hex(4, i * 13)}S${i}`;
  const key = `s2x:${callId};${fromTag}`;
  const expiresAt = s.now + 3_600_000 - (i % 3_000) * 1000;
  const record: SubscriptionRecord = {
    v: SUBSCRIPTION_RECORD_VERSION,
    key,
    direction: 's2x',
    xmppJid: presentity,
    sipAor: `sip:${watcher}`,
    sipJid: watcher,
    authorization: 'granted',
    state: 'active',
    expiresAt,
    expires: 3600,
    subscribedSent: true,
    pendingApproval: false,
    retryCount: 0,
    retryAt: 0,
  };
  return {
    sub: { key, direction: 's2x', xmppJid: presentity, sipAor: record.sipAor, expiresAt, state: record, updatedAt: s.now },
    dialog: {
      key,
      callId,
      localTag: hex(8, i * 31),
      remoteTag: fromTag,
      localCseq: 1000 + (i % 9000),
      remoteCseq: 1,
      // One proxy on the path, as when the watcher's SUBSCRIBE came through Kamailio.
      routeSet: [`<sip:${s.peer};lr>`],
      remoteTarget: `sip:w${i}@${s.peer};transport=udp`,
      localUri: `<sip:${presentity}>`,
      remoteUri: `<sip:${watcher}>`,
      localContact: null,
      expiresAt: null,
      role: 'notifier',
      event: 'presence',
      transport: null,
      updatedAt: s.now,
    },
  };
}

/** Writes the subscriptions and their dialogs to a new store at `path`, in batches; returns the seconds it took. */
export function writePresenceStore(path: string, shape: StoreShape): number {
  const t0 = performance.now();
  const store: Store = openStore(path);
  try {
    const put = (rows: { sub: SubscriptionRow; dialog: DialogRow }): void => {
      store.putDialog(rows.dialog);
      store.putSubscription(rows.sub);
    };
    const BATCH = 10_000;
    for (let i = 0; i < shape.x2s; i += BATCH) {
      store.batch(() => {
        for (let j = i; j < Math.min(shape.x2s, i + BATCH); j++) put(x2sRows(j, shape));
      });
    }
    for (let i = 0; i < shape.s2x; i += BATCH) {
      store.batch(() => {
        for (let j = i; j < Math.min(shape.s2x, i + BATCH); j++) put(s2xRows(j, shape));
      });
    }
  } finally {
    // Closing checkpoints the WAL into the main file, so the file can be copied on its own.
    store.close();
  }
  return (performance.now() - t0) / 1000;
}

/**
 * A store holding the first `fromFirst` subscriptions (with their dialogs) of `first` and the first
 * `fromSecond` of `second`, both written by `writePresenceStore`: rows copied as they are, in SQL, which is
 * much faster than writing them again through the store.
 */
export function mergePresenceStores(path: string, first: string, fromFirst: number, second: string, fromSecond: number): void {
  copyFileSync(first, path);
  const db = new Database(path);
  try {
    db.prepare('ATTACH DATABASE ? AS other').run(second);
    db.transaction(() => {
      db.prepare('DELETE FROM subscriptions WHERE rowid NOT IN (SELECT rowid FROM subscriptions ORDER BY rowid LIMIT ?)').run(fromFirst);
      db.exec('DELETE FROM dialogs WHERE key NOT IN (SELECT key FROM subscriptions)');
      db.prepare('INSERT INTO subscriptions SELECT * FROM other.subscriptions WHERE rowid IN (SELECT rowid FROM other.subscriptions ORDER BY rowid LIMIT ?)').run(fromSecond);
      db.exec('INSERT INTO dialogs SELECT * FROM other.dialogs WHERE key IN (SELECT key FROM subscriptions)');
    })();
    db.exec('DETACH DATABASE other');
  } finally {
    db.close();
  }
}

/**
 * The differences in shape between a row this module generates and one a live Stox wrote: key sets and
 * the type of every value, in the row and in the subscription record inside it. Empty means the same shape.
 */
export function shapeDifferences(generated: object, real: object, path = ''): string[] {
  const out: string[] = [];
  const g = generated as Record<string, unknown>;
  const r = real as Record<string, unknown>;
  for (const k of new Set([...Object.keys(g), ...Object.keys(r)])) {
    const where = `${path}${k}`;
    if (!(k in g)) out.push(`${where}: only in the real row`);
    else if (!(k in r)) out.push(`${where}: only in the generated row`);
    else {
      const tg = kind(g[k]);
      const tr = kind(r[k]);
      if (tg !== tr) out.push(`${where}: generated ${tg}, real ${tr}`);
      else if (tg === 'object') out.push(...shapeDifferences(g[k] as object, r[k] as object, `${where}.`));
    }
  }
  return out;
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}
