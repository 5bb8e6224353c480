/** Child process for the resume test: replays with a checkpoint until the test kills it. */
import { createKinesisClient } from '../../adapters/clients.ts';
import { replayToStream } from '../../producer/replay.ts';

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
  window: 2_000,
  concurrency: 2,
});
process.stdout.write('finished\n');
kinesis.destroy();
