import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../../src/store/index.js';
import { start, stopAll } from '../../helpers/processes.js';
import { storeDir } from './rows.js';

// Node 20 cannot run TypeScript itself; vite-node (vitest's own runner) runs the fixture from source.
const VITE_NODE = createRequire(import.meta.url).resolve('vite-node/vite-node.mjs');
const WRITER = join(import.meta.dirname, '../../fixtures/store/crash-writer.ts');

describe('store durability across a crash (kill -9)', () => {
  let tmp: ReturnType<typeof storeDir>;
  beforeEach(() => {
    tmp = storeDir();
  });
  afterEach(() => tmp.remove());
  afterAll(stopAll);

  it('keeps every row committed before SIGKILL, and the file is intact', async () => {
    const rows = 500;
    const child = start(process.execPath, [VITE_NODE, WRITER], {
      env: { ...process.env, STOX_STORE_FILE: tmp.file, STOX_ROWS: String(rows) },
    });
    await child.waitFor(/^written \d+$/m, 60_000);
    child.child.kill('SIGKILL');
    await child.exited;
    expect(child.child.signalCode).toBe('SIGKILL');
    // The commits were still in the WAL, not checkpointed by a clean close: reopening must replay it.
    expect(statSync(`${tmp.file}-wal`).size).toBeGreaterThan(0);

    const store = openStore(tmp.file);
    try {
      for (let i = 0; i < rows; i++) {
        expect(store.getSubscription(`single-${i}`)?.state).toEqual({ i, auth: 'granted' });
        expect(store.getSubscription(`batch-${i}`)?.state).toEqual({ i, auth: 'granted' });
      }
      // Rows written after "written" are there in whole batches of 50 or not at all.
      const after = [...store.allSubscriptions()].filter((r) => r.key.startsWith('after-')).length;
      expect(after % 50).toBe(0);
      expect(store.countSubscriptions()).toBe(2 * rows + after);
    } finally {
      store.close();
    }
    const raw = new Database(tmp.file, { readonly: true });
    try {
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      raw.close();
    }
  });
});
