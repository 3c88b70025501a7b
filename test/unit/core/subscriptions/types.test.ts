// SubscriptionRecord (reference §3.8) validation as the store reads rows back, and the JID helpers.
import { describe, expect, it } from 'vitest';
import {
  bareOf,
  isSubscriptionRecord,
  resourceOf,
  secondsLeft,
  type SubscriptionRecord,
} from '../../../../src/core/subscriptions/index.js';

const good: SubscriptionRecord = {
  v: 1, key: 'k', direction: 's2x', xmppJid: 'juliet@example.com', sipAor: 'sip:romeo@example.net',
  sipJid: 'romeo@example.net', authorization: 'granted', state: 'active', expiresAt: 1, expires: 3600,
  subscribedSent: true, pendingApproval: false, retryCount: 0, retryAt: 0, watcherInstance: 'gr1',
};

describe('§3.8 SubscriptionRecord', () => {
  it('accepts a well-formed record, also after a JSON round trip', () => {
    expect(isSubscriptionRecord(good)).toBe(true);
    expect(isSubscriptionRecord(JSON.parse(JSON.stringify(good)))).toBe(true);
  });

  it('rejects corrupt or foreign rows', () => {
    const bad: unknown[] = [
      null, 'x', { ...good, v: 2 }, { ...good, key: '' }, { ...good, direction: 'both' },
      { ...good, state: 'subscribed' }, // an x2s state on an s2x record
      { ...good, direction: 'x2s', state: 'active' }, { ...good, authorization: 'none' },
      { ...good, expiresAt: -1 }, { ...good, expires: Number.NaN }, { ...good, subscribedSent: 1 },
      { ...good, watcherInstance: 7 },
    ];
    for (const b of bad) expect(isSubscriptionRecord(b)).toBe(false);
  });
});

describe('JID helpers', () => {
  it('splits at the first slash (a resource may hold more)', () => {
    expect(bareOf('a@b/c/d')).toBe('a@b');
    expect(resourceOf('a@b/c/d')).toBe('c/d');
    expect(resourceOf('a@b')).toBeUndefined();
    expect(secondsLeft(10_500, 9_000)).toBe(2);
    expect(secondsLeft(1, 9_000)).toBe(0);
  });
});
