/**
 * The local Kinesis: kinesalite, and in front of it on the Kinesis port, unless turned off, the shard
 * limits it does not enforce itself (local/limits/kinesis-front.ts). kinesalite then listens on a port
 * nobody is told about; both answer their own origin only.
 */
import type { Server } from 'node:http';
import kinesalite from 'kinesalite';
import { type KinesisLimits, type StreamThrottles, startKinesisLimits } from '../limits/kinesis-front.ts';
import { listen } from '../net.ts';
import { acceptOwnOriginOnly } from '../origin-guard.ts';

export interface LocalKinesis {
  /** Where callers go: the limits when on, else kinesalite itself. */
  endpoint: string;
  /** What the limits refused so far, per stream; undefined when they are off. */
  throttles(): StreamThrottles | undefined;
  close(): Promise<void>;
}

export async function startLocalKinesis(
  host: string,
  port: number,
  options: { limits: boolean },
): Promise<LocalKinesis> {
  // Instant state transitions: the emulator's default of ~500 ms per CreateStream only slows tests.
  const server: Server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 200,
  });
  acceptOwnOriginOnly(server);
  const emulatorPort = await listen(server, options.limits ? 0 : port, host);
  const emulator = `http://${host}:${emulatorPort}`;
  let limits: KinesisLimits | undefined;
  try {
    if (options.limits) limits = await startKinesisLimits({ upstream: emulator, host, port });
  } catch (error) {
    await closeServer(server);
    throw error;
  }
  return {
    endpoint: limits?.endpoint ?? emulator,
    throttles: () => limits?.throttles(),
    close: async () => {
      await limits?.stop();
      await closeServer(server);
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}
