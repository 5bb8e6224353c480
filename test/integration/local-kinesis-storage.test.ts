/**
 * The local Kinesis keeps its records on disk when given a directory (kinesalite's LevelDB `path`), so
 * a long replay does not hold every record in the stack's memory for the stream's 24 h retention.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetRecordsCommand, GetShardIteratorCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterEach, describe, expect, it } from 'vitest';
import { createKinesisClient } from '../../adapters/clients.ts';
import { type LocalKinesis, startLocalKinesis } from '../../local/kinesis/emulator.ts';
import { LOCAL_HOST } from '../../local/ports.ts';
import { createStream } from '../support/producer-support.ts';

let kinesis: LocalKinesis | undefined;
let directory: string | undefined;
afterEach(async () => {
  await kinesis?.close();
  if (directory) await rm(directory, { recursive: true, force: true });
  kinesis = undefined;
  directory = undefined;
});

describe('local Kinesis storage', () => {
  it('keeps records in a LevelDB directory when given one, and reads them back', async () => {
    directory = await mkdtemp(join(tmpdir(), 'clickstream-kinesis-storage-'));
    const path = join(directory, 'kinesis');
    kinesis = await startLocalKinesis(LOCAL_HOST, 0, { limits: false, path });
    // leveldown ships prebuilt for linux-x64, where this suite runs.
    expect(kinesis.storage).toEqual({ kind: 'leveldb', path });
    const client = createKinesisClient({ endpoint: kinesis.endpoint });
    try {
      await createStream(client, 'stored', 1);
      const Records = Array.from({ length: 300 }, (_, i) => ({
        PartitionKey: 'k',
        Data: Buffer.from(`r${i}`),
      }));
      const put = await client.send(new PutRecordsCommand({ StreamName: 'stored', Records }));
      expect(put.FailedRecordCount).toBe(0);
      const { ShardIterator } = await client.send(
        new GetShardIteratorCommand({
          StreamName: 'stored',
          ShardId: 'shardId-000000000000',
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      const page = await client.send(new GetRecordsCommand({ ShardIterator, Limit: 10_000 }));
      expect(page.Records?.map((r) => Buffer.from(r.Data ?? []).toString())).toEqual(
        Records.map((r) => r.Data.toString()),
      );
      // LevelDB opens in the background: by the time a record has been stored and read, it is open.
      expect(existsSync(join(path, 'CURRENT'))).toBe(true);
    } finally {
      client.destroy();
    }
  });

  it('keeps them in memory without a directory', async () => {
    kinesis = await startLocalKinesis(LOCAL_HOST, 0, { limits: false });
    expect(kinesis.storage).toEqual({ kind: 'memory' });
  });
});
