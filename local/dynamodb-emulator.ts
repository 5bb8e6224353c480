/**
 * The local DynamoDB. Dynoxide (a static Rust binary shipped inside an npm package, SQLite in memory or
 * in a file) where the platform has it; dynalite (pure JS, in-process) everywhere else. Both accept the merge's
 * conditional `ADD` + `contains`. Dynoxide is preferred because the demo is bound by DynamoDB merges:
 * measured here, dynalite served ~300 UpdateItem/s and dynoxide was limited only by the client.
 */
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import type { KeyAttribute } from '../core/dynamo-tables.ts';
import { freePort, listen } from './net.ts';
import { acceptOwnOriginOnly, type GuardedFront, startGuardedFront } from './origin-guard.ts';
import { type Ownership, spawnTethered, type TetheredChild } from './processes.ts';

/**
 * An on-demand table with these keys (partition key first, then the sort key if any): how the local
 * stack creates the template's tables, and tests create the same schemas.
 */
export function createTableCommand(tableName: string, keys: readonly KeyAttribute[]): CreateTableCommand {
  return new CreateTableCommand({
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: keys.map((key) => ({ AttributeName: key.name, AttributeType: key.type })),
    KeySchema: keys.map((key, i) => ({ AttributeName: key.name, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
  });
}

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
  /** Where the dynoxide process is recorded, so that it is found again if this process dies. */
  ownership?: Ownership;
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

/** Starts the emulator on `port` (0: any free port; `port` of the result says which). */
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
  return binary ? startDynoxide(binary, host, port, options) : startDynalite(host, port);
}

/**
 * Dynoxide answers every origin and cannot be told otherwise, so it listens on a port of its own
 * choosing that nobody is told about, behind a guarded front on `port` (local/origin-guard.ts). The
 * front costs one loopback hop per request. The binary is tethered to this process
 * (local/processes.ts): it stops when this process ends, however that happens.
 */
async function startDynoxide(
  binary: string,
  host: string,
  port: number,
  options: DynamoEmulatorOptions,
): Promise<DynamoEmulator> {
  const inner = await freePort(host);
  const args = ['serve', '--host', host, '--port', String(inner)];
  if (options.dbPath) args.push('--db-path', options.dbPath);
  const child: TetheredChild = await spawnTethered(
    binary,
    args,
    options.ownership ? { ownership: options.ownership, role: 'dynamodb emulator (dynoxide)' } : undefined,
  );
  let front: GuardedFront | undefined;
  try {
    await waitForPort(host, inner, child);
    front = await startGuardedFront({ host, port, upstream: new URL(`http://${host}:${inner}`) });
  } catch (error) {
    await child.stop('SIGKILL');
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw error;
    throw new DynamoEmulatorError(
      `dynoxide did not start on ${host}:${inner}: ${child.stderr().trim() || String(error)}`,
      { cause: error },
    );
  }
  const published = front;
  const stopWith = async (signal: 'SIGTERM' | 'SIGKILL') => {
    await published.close();
    await child.stop(signal);
  };
  return {
    kind: 'dynoxide',
    port: published.port,
    ...(options.dbPath ? { dbPath: options.dbPath } : {}),
    close: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}

async function startDynalite(host: string, port: number): Promise<DynamoEmulator> {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  acceptOwnOriginOnly(server);
  const bound = await listen(server, port, host);
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
  return { kind: 'dynalite', port: bound, close, kill: close };
}

async function waitForPort(host: string, port: number, child: TetheredChild): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    if (!child.running()) throw new Error('exited');
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host);
      socket.once('connect', () => {
        // A connect to a free port in the ephemeral range can pick that very port as its own source
        // and connect to itself (TCP simultaneous open): that is no server.
        const self = socket.localPort === socket.remotePort;
        socket.destroy();
        resolve(!self);
      });
      socket.once('error', () => resolve(false));
    });
    if (open && child.running()) return;
    await sleep(25);
  }
  throw new Error('timed out waiting for the port');
}
