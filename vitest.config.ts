import { defineConfig } from 'vitest/config';

// What every test file runs with, whatever its kind.
const shared = {
  // Integration tests start emulators on loopback ports; forks keep their sockets apart.
  pool: 'forks',
  // s3rver encrypts listing continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
  execArgv: ['--openssl-legacy-provider'],
  testTimeout: 60_000,
  hookTimeout: 60_000,
  env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
} as const;

/**
 * Two kinds of test (test/chaos has its own config, vitest.chaos.config.ts): `unit` is pure (no emulator,
 * no child process, no socket), `integration` starts emulators, stacks, servers or processes. Each is a
 * project, so `npm run test:unit` (`--project unit`) skips what only the integration files need.
 */
export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          ...shared,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // The local stack is built from the synthesized template: synthesize it once, up front.
          globalSetup: ['test/support/template-cache.setup.ts'],
        },
      },
    ],
  },
});
