// How bin/clickstream.js starts the program: from dist/ or from the sources, and in a second node
// process only when the command needs OpenSSL's legacy provider. Plain JavaScript: it runs before
// anything is built.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';

const LEGACY = '--openssl-legacy-provider';
const RELAUNCHED = 'CLICKSTREAM_RELAUNCHED';

/**
 * `local up` hosts s3rver in its process, and s3rver encrypts listing tokens with DES, which OpenSSL 3
 * keeps in its legacy provider: only that command pays for a second node start. (A word match, so an
 * argument value that happens to read "local ... up" costs a relaunch, never a failure.)
 */
export function needsLegacyProvider(args, execArgv = process.execArgv, env = process.env) {
  if (execArgv.includes(LEGACY) || (env.NODE_OPTIONS ?? '').includes(LEGACY)) return false;
  const end = args.includes('--') ? args.indexOf('--') : args.length;
  const words = args.slice(0, end);
  if (words.includes('--help') || words.includes('-h')) return false;
  const local = words.indexOf('local');
  return local >= 0 && words.indexOf('up', local + 1) > local;
}

/** A shell's exit status for a child that ended: its code, or 128 + the number of the killing signal. */
export function exitStatus(code, signal) {
  if (code !== null) return code;
  return signal ? 128 + constants.signals[signal] : 1;
}

/**
 * Runs `nodeArgs` in a child node with the legacy provider and ends as the child ends (SIGTERM 143,
 * SIGKILL 137, as a shell reports them).
 */
export function relaunchWithLegacyProvider(nodeArgs) {
  const child = spawn(process.execPath, [LEGACY, ...nodeArgs], {
    // The IPC channel lets the child see this process die, even by SIGKILL (stopWithParent).
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [RELAUNCHED]: '1' },
  });
  // The child sees Ctrl-C itself (same process group); the parent only waits for it.
  process.on('SIGINT', () => undefined);
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(exitStatus(code, signal)));
  return child;
}

/** In a relaunched child: stop as if sent SIGTERM when the parent goes, so nothing is orphaned. */
export function stopWithParent() {
  if (process.env[RELAUNCHED] !== '1' || !process.channel) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

/** True when dist/ was built after every input of that build last changed (dist/build.json). */
export function builtIsFresh(root) {
  const stamp = join(root, 'dist', 'build.json');
  if (!existsSync(stamp)) return false;
  try {
    const { startedAt, inputs } = JSON.parse(readFileSync(stamp, 'utf8'));
    return inputs.every((input) => statSync(join(root, input)).mtimeMs < startedAt);
  } catch {
    return false;
  }
}
