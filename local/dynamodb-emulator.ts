/**
 * The local DynamoDB. Dynoxide (a static Rust binary shipped inside an npm package, SQLite in memory)
 * where the platform has it; dynalite (pure JS, in-process) everywhere else. Both accept the merge's
 * conditional `ADD` + `contains`. Dynoxide is preferred because the demo is bound by DynamoDB merges:
 * measured here, dynalite served ~300 UpdateItem/s and dynoxide was limited only by the client.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import dynalite from 'dynalite';

export interface DynamoEmulator {
  kind: 'dynoxide' | 'dynalite';
  port: number;
  /** The SQLite file dynoxide keeps its tables in, when started with one (survives a restart). */
  dbPath?: string;
  close(): Promise<void>;
  /** SIGKILL, as a crash would: no shutdown work (dynalite, in-process, just closes). */
  kill(): Promise<void>;
}

export interface DynamoEmulatorOptions {
  /** dynoxide only: keep the tables in this SQLite file instead of in memory. */
  dbPath?: string;
}

export class DynamoEmulatorError extends Error {
  override name = 'DynamoEmulatorError';
}

/** Path of the dynoxide binary for this platform, if its optional package was installed. */
export function dynoxideBinary(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  try {
    return createRequire(import.meta.url).resolve('@dynoxide/linux-x64/dynoxide');
  } catch {
    return undefined;
  }
}

export async function startDynamoEmulator(
  host: string,
  port: number,
  prefer: 'dynoxide' | 'dynalite' = 'dynoxide',
  options: DynamoEmulatorOptions = {},
): Promise<DynamoEmulator> {
  const binary = prefer === 'dynoxide' ? dynoxideBinary() : undefined;
  if (!binary && options.dbPath)
    throw new DynamoEmulatorError(
      'a DynamoDB database file needs dynoxide, which is not installed for this platform',
    );
  return binary ? startDynoxide(binary, host, port, options.dbPath) : startDynalite(host, port);
}

async function startDynoxide(
  binary: string,
  host: string,
  port: number,
  dbPath?: string,
): Promise<DynamoEmulator> {
  const args = ['serve', '--host', host, '--port', String(port), ...(dbPath ? ['--db-path', dbPath] : [])];
  const child: ChildProcess = spawn(binary, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  // A parent that exits without stop() must not leave the binary holding the port.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(host, port, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new DynamoEmulatorError(
      `dynoxide did not start on ${host}:${port}: ${stderr.trim() || String(error)}`,
      {
        cause: error,
      },
    );
  }
  const stopWith = async (signal: NodeJS.Signals) => {
    process.off('exit', killChild);
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    kind: 'dynoxide',
    port,
    ...(dbPath ? { dbPath } : {}),
    close: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}

async function startDynalite(host: string, port: number): Promise<DynamoEmulator> {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
  return {
    kind: 'dynalite',
    port: typeof address === 'object' && address ? address.port : port,
    close,
    kill: close,
  };
}

async function waitForPort(host: string, port: number, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('timed out waiting for the port');
}
