import { defineConfig } from 'vitest/config';

// Two tiers: fast unit tests next to the code, and integration tests under test/
// that start real daemons, shims and runc as root. Integration tests run one file
// at a time because they share kernel resources (mounts, cgroups, netns).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'api/**/*.test.ts',
            'core/**/*.test.ts',
            'client/**/*.test.ts',
            'plugins/**/*.test.ts',
            'shim/**/*.test.ts',
            'snapshots/**/*.test.ts',
            'native/**/*.test.ts',
            'cmd/**/*.test.ts',
            'bench/**/*.test.ts',
          ],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
