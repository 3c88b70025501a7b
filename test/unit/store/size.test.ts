import { statSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../../src/store/index.js';
import { dialog, document, storeDir, subscription } from './rows.js';

/**
 * Restart at scale: the gateway must be serving again within 5 s with 100k persisted subscriptions.
 * Timings are printed for the record, never asserted (shared CI cores make them noisy); the test asserts
 * that everything written comes back.
 */
describe('store at 100k subscriptions + 100k dialogs', () => {
  let tmp: ReturnType<typeof storeDir>;
  beforeEach(() => {
    tmp = storeDir();
  });
  afterEach(() => tmp.remove());

  it('writes in batches, reopens and reads everything back', () => {
    const N = 100_000;
    const BATCH = 1_000;
    const ms = (t0: bigint): number => Number((process.hrtime.bigint() - t0) / 1_000n) / 1_000;
    const timings: Record<string, number | string> = {};

    let t = process.hrtime.bigint();
    let store = openStore(tmp.file);
    for (let b = 0; b < N; b += BATCH) {
      store.batch(() => {
        for (let i = b; i < b + BATCH; i++) {
          store.putSubscription(subscription(i));
          store.putDialog(dialog(i));
        }
      });
    }
    for (let i = 0; i < 10_000; i++) store.putDocument(document(`contact${i}@sip.example`, 'sip'));
    timings.writeBatched100kSubs100kDialogs10kDocs = ms(t);

    t = process.hrtime.bigint();
    for (let i = 0; i < 2_000; i++) store.putSubscription(subscription(i, { updatedAt: i + 1 }));
    timings.write2000SinglePuts = ms(t);
    store.close();
    timings.fileMiB = (statSync(tmp.file).size / 2 ** 20).toFixed(1);

    t = process.hrtime.bigint();
    store = openStore(tmp.file);
    timings.open = ms(t);

    let subs = 0;
    let dialogs = 0;
    let docs = 0;
    try {
      t = process.hrtime.bigint();
      for (const s of store.allSubscriptions()) if (s.key) subs++;
      timings.readAllSubs = ms(t);
      t = process.hrtime.bigint();
      for (const d of store.allDialogs()) if (d.routeSet.length === 2) dialogs++;
      timings.readAllDialogs = ms(t);
      t = process.hrtime.bigint();
      for (const d of store.allDocuments()) if (d.document) docs++;
      timings.readAllDocs = ms(t);
      t = process.hrtime.bigint();
      expect(store.countSubscriptions()).toBe(N);
      timings.count = ms(t);
      t = process.hrtime.bigint();
      for (let i = 0; i < 10_000; i++) store.getSubscription(subscription((i * 7919) % N).key);
      timings.get10kRandom = ms(t);
    } finally {
      store.close();
    }
    console.log(`store size timings (ms): ${JSON.stringify(timings)}`);

    expect(subs).toBe(N);
    expect(dialogs).toBe(N);
    expect(docs).toBe(10_000);
  }, 300_000);
});
