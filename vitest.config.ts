import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/chaos/**', 'node_modules/**'],
    // Integration tests start emulators on loopback ports; forks keep their sockets apart.
    pool: 'forks',
    // The local stack is built from the synthesized template: synthesize it once, up front.
    globalSetup: ['test/template-cache.setup.ts'],
    // s3rver encrypts listing continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
    execArgv: ['--openssl-legacy-provider'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
