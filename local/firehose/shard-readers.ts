/**
 * Reading every shard of the source stream as Firehose does: from TRIM_HORIZON, one GetRecords call a
 * second per shard, at once again only while calls come back full; a throttled call waited out and
 * made again from the same iterator; an expired iterator replaced after the last record taken.
 * https://docs.aws.amazon.com/firehose/latest/dev/writing-with-kinesis-streams.html
 * https://docs.aws.amazon.com/firehose/latest/dev/troubleshooting.html
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type _Record, GetRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { GET_RECORDS_MAX_RECORDS, shardIterator } from '../../adapters/kinesis-shards.ts';
import { isThrottled, readBackoffMs } from '../kinesis/read-throttling.ts';

interface ShardReader {
  shardId: string;
  /** Value of the read counter when the latest empty GetRecords call started. */
  drainedAt: number;
  closed: boolean;
  done: Promise<void>;
}

export interface ShardReaders {
  /** Resolves once every open shard has come back empty from a GetRecords call started after this call. */
  readToTip(): Promise<void>;
  /** Stops reading: ends the waits between calls at once, and resolves when every reader has returned. */
  stop(): Promise<void>;
}

export function startShardReaders(settings: {
  kinesis: KinesisClient;
  streamName: string;
  shardIds: readonly string[];
  pollMs: number;
  /** Takes one record read. */
  accept(record: _Record): void;
  /** Resolves when the delivery can take more: each reader waits on it before each read. */
  ready(): Promise<void>;
  /** A GetRecords call was throttled. */
  throttled(): void;
  /** A reader failed for good: the delivery reports it. */
  fail(error: unknown): void;
}): ShardReaders {
  const { kinesis, streamName, pollMs } = settings;
  let stopped = false;
  let readCounter = 0;
  // Ends the readers' waits between calls at once when the delivery stops.
  const stopping = new AbortController();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopping.signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        stopping.signal.removeEventListener('abort', done);
        resolve();
      }
      stopping.signal.addEventListener('abort', done);
    });

  /** An iterator after the last record taken from the shard, or at its start before any. */
  function readFrom(shardId: string, afterSequence: string | undefined): Promise<string | undefined> {
    return shardIterator(
      kinesis,
      streamName,
      shardId,
      afterSequence
        ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: afterSequence }
        : { type: 'TRIM_HORIZON' },
    );
  }

  function startReader(shardId: string): ShardReader {
    const reader: ShardReader = { shardId, drainedAt: -1, closed: false, done: Promise.resolve() };
    reader.done = (async () => {
      let iterator = await readFrom(shardId, undefined);
      let lastSequence: string | undefined;
      let throttledInARow = 0;
      while (!stopped && iterator) {
        await settings.ready();
        if (stopped) break;
        const startedAt = ++readCounter;
        const startedMs = Date.now();
        let behind = false;
        try {
          const page = await kinesis.send(
            new GetRecordsCommand({ ShardIterator: iterator, Limit: GET_RECORDS_MAX_RECORDS }),
          );
          throttledInARow = 0;
          const records = page.Records ?? [];
          for (const record of records) settings.accept(record);
          lastSequence = records.at(-1)?.SequenceNumber ?? lastSequence;
          iterator = page.NextShardIterator;
          if (records.length === 0) reader.drainedAt = startedAt;
          behind = records.length >= GET_RECORDS_MAX_RECORDS || (page.MillisBehindLatest ?? 0) > 0;
        } catch (error) {
          if (stopped) break;
          // Iterators expire after 5 minutes; resume after the last record we took.
          if (error instanceof Error && error.name === 'ExpiredIteratorException') {
            iterator = await readFrom(shardId, lastSequence);
          } else if (isThrottled(error)) {
            settings.throttled();
            await pause(readBackoffMs(++throttledInARow));
          } else {
            await pause(pollMs * 5);
          }
          continue;
        }
        if (!behind) await pause(Math.max(0, startedMs + pollMs - Date.now()));
      }
      reader.closed = true;
    })().catch((error: unknown) => {
      settings.fail(error);
      reader.closed = true;
    });
    return reader;
  }

  const readers = settings.shardIds.map((shardId) => startReader(shardId));
  return {
    async readToTip() {
      const mark = readCounter;
      while (readers.some((r) => !r.closed && r.drainedAt <= mark)) await sleep(10);
    },
    async stop() {
      stopped = true;
      stopping.abort();
      await Promise.all(readers.map((r) => r.done));
    },
  };
}
