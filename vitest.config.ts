import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // Suites start real servers (Redis, WireMock, Prometheus); two at a time fits a 2-core machine.
    maxWorkers: 2,
    reporters: ['default'],
    // Waits for a condition (requests in flight, an entry stored) end as soon as it holds; on a loaded
    // 2-core machine it can take longer than expect.poll's default second to get there.
    expect: { poll: { timeout: 10_000, interval: 20 } },
  },
});
