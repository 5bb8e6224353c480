/** Child process for the producer-kill profile: a paced, checkpointed replay that the test kills mid-run. */
import { createKinesisClient } from '../../adapters/clients.ts';
import { replayToStream } from '../../producer/replay.ts';
import { ShardRateLimiter } from '../../producer/shards.ts';

const [endpoint, streamName, source, checkpoint, rejects, failedOut] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const kinesis = createKinesisClient({ endpoint, maxAttempts: 1 });
await replayToStream({
  kinesis,
  streamName,
  source,
  checkpoint,
  rejects,
  failedOut,
  // Paced and with a small window, so the kill lands mid-run and few records can be sent twice.
  speed: 40,
  window: 300,
  concurrency: 2,
  limiter: new ShardRateLimiter({ floorPerSecond: 2_000 }),
});
process.stdout.write('finished\n');
kinesis.destroy();
