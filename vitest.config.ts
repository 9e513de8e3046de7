import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real chroot runs, registries and image fixtures are slow on 2-core machines.
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Mounts and fixture caches are shared machine state: keep file-level parallelism modest.
    maxWorkers: 2,
    setupFiles: ['test/helpers/setup.ts'],
    // Builds dist/ once for the tests that spawn the compiled CLI.
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
