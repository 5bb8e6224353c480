/**
 * A checkpointed replay in a process of its own, for the tests that kill it mid-run (the resume test,
 * the producer-kill chaos profile); start it with spawnReplayChild (replay-child-process.ts).
 * Argument 7, `paced`, slows it down with a small window, so a kill lands mid-run and few records can
 * be sent twice.
 */
import { createKinesisClient } from '../../adapters/clients.ts';
import { replayToStream } from '../../producer/replay.ts';
import { ShardRateLimiter } from '../../producer/shards.ts';

const [endpoint, streamName, source, checkpoint, rejects, failedOut, pace] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
  string | undefined,
];
const kinesis = createKinesisClient({ endpoint, maxAttempts: 1 });
await replayToStream({
  kinesis,
  streamName,
  source,
  checkpoint,
  rejects,
  failedOut,
  concurrency: 2,
  ...(pace === 'paced'
    ? { speed: 40, window: 300, limiter: new ShardRateLimiter({ floorPerSecond: 2_000 }) }
    : { window: 2_000 }),
});
process.stdout.write('finished\n');
kinesis.destroy();
