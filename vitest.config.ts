import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `import 'capstan/sdk'` in this repository's tests and examples runs the sources (package.json's
  // "capstan-source" condition), not a dist/ built by `npm pack`. Tests run in Vite's server (ssr)
  // environment; the rest of the list is Vite's default for it.
  ssr: { resolve: { conditions: ['capstan-source', 'module', 'node', 'development|production'] } },
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**'],
    // Integration tests start real etcd, dockerd and haproxy processes: give them room, but keep each
    // wait a bounded poll inside the test rather than a long global timeout.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // In CI a JSON report as well, from which .ci/run prints the plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'node_modules/.cache/vitest-results.json' }]] : ['default'],
  },
});
