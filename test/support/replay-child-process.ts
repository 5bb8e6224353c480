/** Starts test/support/replay-child.ts, collecting what it prints, for tests that kill it mid-run. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export interface ReplayChild {
  child: ChildProcess;
  /** Resolves with the signal that ended the child (null when it exited on its own). */
  exited: Promise<NodeJS.Signals | null>;
  /** Its stdout and stderr so far. */
  output(): string;
}

export function spawnReplayChild(
  run: {
    endpoint: string;
    streamName: string;
    source: string;
    checkpoint: string;
    rejects: string;
    failedOut: string;
  },
  options: { paced?: boolean } = {},
): ReplayChild {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'replay-child.ts'),
      run.endpoint,
      run.streamName,
      run.source,
      run.checkpoint,
      run.rejects,
      run.failedOut,
      ...(options.paced ? ['paced'] : []),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  return { child, exited, output: () => output };
}
