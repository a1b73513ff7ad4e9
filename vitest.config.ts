import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests bind real loopback ports and move real bytes; give them room.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: run files two at a time so socket-heavy tests do not starve each other.
    maxWorkers: 2,
    env: { STREAMCACHE_LOG_LEVEL: 'silent' },
  },
});
