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
  // Run by the launcher below, which only relays: if it dies, even by kill -9, this process is told to
  // stop as the launcher's SIGTERM relay would have told it, instead of running on as an orphan (e.g. a
  // `local up` holding its ports). Checked before anything else loads, so no launcher death is missed.
  const launcher = process.env.CLICKSTREAM_LAUNCHER_PID;
  delete process.env.CLICKSTREAM_LAUNCHER_PID;
  if (launcher) {
    const orphaned = () => process.ppid !== Number(launcher);
    if (orphaned()) process.kill(process.pid, 'SIGTERM');
    const watch = setInterval(() => {
      if (!orphaned()) return;
      clearInterval(watch);
      process.kill(process.pid, 'SIGTERM');
    }, 500);
    watch.unref();
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(entry);
} else {
  const child = spawn(
    process.execPath,
    [legacy, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      // Lets the child see when this relay is gone, even by kill -9.
      env: { ...process.env, CLICKSTREAM_LAUNCHER_PID: String(process.pid) },
    },
  );
  // The child sees Ctrl-C itself (same process group); the parent only waits for it.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 128 + 1 : 1);
  });
}
