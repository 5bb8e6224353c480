/**
 * The local Kinesis: kinesalite, and in front of it on the Kinesis port the limits it does not enforce
 * itself (local/limits/kinesis-front.ts): the shard budgets, unless turned off, and always the
 * 10 MiB a GetRecords call returns. kinesalite listens on a port nobody is told about; both answer
 * their own origin only.
 */
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import kinesalite from 'kinesalite';
import { type KinesisLimits, type StreamThrottles, startKinesisLimits } from '../limits/kinesis-front.ts';
import { listen } from '../net.ts';
import { acceptOwnOriginOnly } from '../origin-guard.ts';

export interface LocalKinesis {
  /** Where callers go: the limits front. */
  endpoint: string;
  /** What the limits refused so far, per stream; undefined when they are off. */
  throttles(): StreamThrottles | undefined;
  /** Where kinesalite keeps its records: a LevelDB directory, or in memory when LevelDB cannot load here. */
  storage: { kind: 'leveldb'; path: string } | { kind: 'memory' };
  close(): Promise<void>;
}

export async function startLocalKinesis(
  host: string,
  port: number,
  options: {
    limits: boolean;
    /**
     * A directory for kinesalite's LevelDB store (its documented `path` option). kinesalite keeps every
     * record for the stream's 24 h retention, so in memory it grows with everything ever put: 1M
     * events and their partials would all stay resident. Absent, or when leveldown (kinesalite's
     * optional native dependency, shipped prebuilt for common platforms) cannot load: in memory.
     */
    path?: string;
  },
): Promise<LocalKinesis> {
  const path = options.path && levelDbLoads() ? options.path : undefined;
  // Instant state transitions: the emulator's default of ~500 ms per CreateStream only slows tests.
  const server: Server = kinesalite({
    ...(path ? { path } : {}),
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 200,
  });
  acceptOwnOriginOnly(server);
  const emulatorPort = await listen(server, 0, host);
  const emulator = `http://${host}:${emulatorPort}`;
  let limits: KinesisLimits;
  try {
    limits = await startKinesisLimits({
      upstream: emulator,
      host,
      port,
      ...(options.limits ? {} : { limits: false }),
    });
  } catch (error) {
    await closeServer(server);
    throw error;
  }
  return {
    endpoint: limits.endpoint,
    throttles: () => (options.limits ? limits.throttles() : undefined),
    storage: path ? { kind: 'leveldb', path } : { kind: 'memory' },
    close: async () => {
      await limits.stop();
      await closeServer(server);
    },
  };
}

/** Whether kinesalite's optional leveldown (a native addon) is installed and loads on this platform. */
function levelDbLoads(): boolean {
  try {
    createRequire(import.meta.resolve('kinesalite'))('leveldown');
    return true;
  } catch {
    return false;
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}
