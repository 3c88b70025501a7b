import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DialogRow, DocumentRow, SubscriptionRow } from '../../../src/store/index.js';

/** A real directory per test: the store's durability only means something on a real file. */
export function storeDir(): { dir: string; file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'stox-store-'));
  return { dir, file: join(dir, 'stox.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const T0 = 1_750_000_000_000;

export function subscription(i: number, over: Partial<SubscriptionRow> = {}): SubscriptionRow {
  return {
    key: `x2s:user${i}@xmpp.example|sip:contact${i}@sip.example`,
    direction: i % 2 === 0 ? 'x2s' : 's2x',
    xmppJid: `user${i}@xmpp.example`,
    sipAor: `sip:Contact${i}@sip.example`,
    expiresAt: T0 + 3_600_000 + i,
    // Shaped like a machine record: nested objects, arrays, strings needing escapes, a null.
    state: {
      kind: 'x2s',
      auth: { out: 'granted', in: 'pending' },
      firstActiveSeen: i % 3 === 0,
      resources: [{ resource: 'phone', show: 'away', status: `"on the road" ✈ ${i}`, priority: 5 }],
      lastProbe: null,
      refreshAt: T0 + 3_000_000,
    },
    updatedAt: T0 + i,
    ...over,
  };
}

export function dialog(i: number, over: Partial<DialogRow> = {}): DialogRow {
  return {
    key: `x2s:user${i}@xmpp.example|sip:contact${i}@sip.example`,
    callId: `c${i}-9f2e1d@stox.example`,
    localTag: `lt${i}`,
    remoteTag: i % 5 === 0 ? null : `rt${i}`,
    localCseq: 1 + i,
    remoteCseq: i % 5 === 0 ? null : 100 + i,
    routeSet: ['<sip:proxy1.sip.example;lr>', '<sip:proxy2.sip.example;lr;transport=tcp>'],
    remoteTarget: `sip:contact${i}@192.0.2.7:5060;transport=tcp`,
    localUri: `sip:user${i}@xmpp.example`,
    remoteUri: `sip:contact${i}@sip.example`,
    localContact: 'sip:gw@203.0.113.1:5060;transport=tcp',
    expiresAt: T0 + 3_600_000 + i,
    role: i % 2 === 0 ? 'subscriber' : 'notifier',
    transport: { transport: 'tcp', address: '192.0.2.7', port: 5060 },
    updatedAt: T0 + i,
    ...over,
  };
}

export function document(contact: string, side: DocumentRow['side'], over: Partial<DocumentRow> = {}): DocumentRow {
  return {
    contact,
    side,
    document: { tuples: { t1: { resource: 'phone', basic: 'open', note: 'Ünïcödé <&> "x"' } } },
    updatedAt: T0,
    ...over,
  };
}
