import { defineConfig } from 'vitest/config';

/** `npm run test:chaos`: the pipeline under each fault profile (local/chaos.ts), one file per profile. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    pool: 'forks',
    // The local stack is built from the synthesized template: synthesize it once, up front.
    globalSetup: ['test/support/template-cache.setup.ts'],
    // Each file runs the whole embedded stack and pipeline; on 2 shared cores, side by side they would
    // only slow each other down.
    fileParallelism: false,
    // s3rver encrypts listing continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
    execArgv: ['--openssl-legacy-provider'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
