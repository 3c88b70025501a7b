import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real servers (sipp, Prosody) on loopback; keep them from fighting over 2 cores.
    poolOptions: { forks: { singleFork: false, maxForks: 2 } },
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
