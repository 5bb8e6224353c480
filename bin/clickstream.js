#!/usr/bin/env node
// The package bin (`npx clickstream`): runs the TypeScript entry point through tsx. When the process
// may host the local S3 emulator (s3rver encrypts listing tokens with DES, which OpenSSL 3 keeps in its
// legacy provider), re-run node with that provider enabled.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The SDK's notice that its 2027 releases need Node 22 is for us (package.json engines), not for every run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const entry = fileURLToPath(new URL('./clickstream.ts', import.meta.url));
const legacy = '--openssl-legacy-provider';
const hasLegacy = process.execArgv.includes(legacy) || (process.env.NODE_OPTIONS ?? '').includes(legacy);
if (hasLegacy) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(entry);
} else {
  const child = spawn(
    process.execPath,
    [legacy, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    },
  );
  // The child sees Ctrl-C itself (same process group); the parent only waits for it.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 128 + 1 : 1);
  });
}
