/**
 * The AWS-only paths of `clickstream redrive`, against recorded clients (aws-sdk-client-mock): the SQS
 * failure queue (receive, delete after a full re-send, keep and make visible again otherwise), ranges
 * past the retention or cut short, the S3 dead letters, a dry run, records Kinesis refuses again, and
 * bad input that stops the run before anything is sent. The local on-failure file, which stands in
 * for the queue on the embedded stack, is taken the same way (a message deleted = a line removed).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKinesisClient, createS3Client, createSqsClient } from '../../adapters/clients.ts';
import { userRecordsOf } from '../../core/kpl.ts';
import { type RedriveToStreamOptions, redriveToStream } from '../../producer/redrive.ts';
import { parseFailedRecords, RedriveError } from '../../producer/redrive-sources.ts';
import { runMain } from '../support/cli-support.ts';
import { makeEvent } from '../support/consumers-factories.ts';

const kinesisMock = mockClient(KinesisClient);
const s3Mock = mockClient(S3Client);
const sqsMock = mockClient(SQSClient);
const STREAM = 'clickstream-events';
const ARN = `arn:aws:kinesis:us-east-1:123456789012:stream/${STREAM}`;
const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/failures';
const NOW = Date.UTC(2026, 5, 1, 12);
const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'redrive-aws-'));
afterAll(() => {
  kinesisMock.restore();
  s3Mock.restore();
  sqsMock.restore();
  rmSync(dir, { recursive: true, force: true });
});

const clients = () => ({
  kinesis: createKinesisClient({ region: 'us-east-1', maxAttempts: 1 }),
  sqs: createSqsClient({ region: 'us-east-1' }),
  s3: createS3Client({ region: 'us-east-1' }),
});

/** Records 1..20 on shard 0; a test's GetRecords serves them from the iterator's position. */
const streamRecords = Array.from({ length: 20 }, (_, i) => ({
  SequenceNumber: String(i + 1),
  PartitionKey: `key-${i + 1}`,
  Data: Buffer.from(JSON.stringify(makeEvent({ event_id: `seq${i + 1}` }))),
}));

const range = (start: number, end: number, arrivedHoursAgo: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    requestContext: { condition: 'RetryAttemptsExhausted' },
    KinesisBatchInfo: {
      shardId: 'shardId-000000000000',
      startSequenceNumber: String(start),
      endSequenceNumber: String(end),
      approximateArrivalOfFirstRecord: new Date(NOW - arrivedHoursAgo * HOUR).toISOString(),
      approximateArrivalOfLastRecord: new Date(NOW - arrivedHoursAgo * HOUR + 1000).toISOString(),
      batchSize: end - start + 1,
      streamArn: ARN,
      ...extra,
    },
  });

let put: Array<{ data: string; key: string }>;
let deleted: string[];
let madeVisible: string[];
/** The stream's first record still there (records before it passed the retention). */
let trimHorizon: number;

beforeEach(() => {
  put = [];
  deleted = [];
  madeVisible = [];
  trimHorizon = 1;
  kinesisMock.reset();
  s3Mock.reset();
  sqsMock.reset();
  kinesisMock.on(ListShardsCommand).resolves({
    Shards: [
      {
        ShardId: 'shardId-000000000000',
        HashKeyRange: { StartingHashKey: '0', EndingHashKey: (2n ** 128n - 1n).toString() },
        SequenceNumberRange: { StartingSequenceNumber: '1' },
      },
    ],
  });
  kinesisMock
    .on(DescribeStreamSummaryCommand)
    .resolves({ StreamDescriptionSummary: { RetentionPeriodHours: 24 } as never });
  kinesisMock.on(GetShardIteratorCommand).callsFake((input) => ({
    ShardIterator: `at:${Math.max(trimHorizon, Number(input.StartingSequenceNumber))}`,
  }));
  kinesisMock.on(GetRecordsCommand).callsFake((input) => {
    const from = Number(String(input.ShardIterator).slice(3));
    const page = streamRecords.filter((r) => Number(r.SequenceNumber) >= from).slice(0, 4);
    const next = from + page.length;
    return { Records: page, NextShardIterator: `at:${next}`, MillisBehindLatest: next > 20 ? 0 : 1000 };
  });
  kinesisMock.on(PutRecordsCommand).callsFake((input) => {
    for (const record of input.Records) {
      for (const user of userRecordsOf(record.Data, record.PartitionKey))
        put.push({ data: Buffer.from(user.data).toString('utf8'), key: user.partitionKey });
    }
    return {
      FailedRecordCount: 0,
      Records: input.Records.map(() => ({ SequenceNumber: '99', ShardId: 's' })),
    };
  });
  sqsMock.on(DeleteMessageCommand).callsFake((input) => {
    deleted.push(input.ReceiptHandle);
    return {};
  });
  sqsMock.on(ChangeMessageVisibilityCommand).callsFake((input) => {
    expect(input.VisibilityTimeout).toBe(0);
    madeVisible.push(input.ReceiptHandle);
    return {};
  });
});
afterEach(() => undefined);

/** Messages served once each, then an empty queue. */
function queueOf(bodies: Record<string, string>) {
  let served = false;
  sqsMock.on(ReceiveMessageCommand).callsFake(() => {
    if (served) return { Messages: [] };
    served = true;
    return {
      Messages: Object.entries(bodies).map(([id, body]) => ({
        MessageId: id,
        ReceiptHandle: `r-${id}`,
        Body: body,
      })),
    };
  });
}

function run(options: Partial<RedriveToStreamOptions>) {
  const { kinesis, sqs } = clients();
  return redriveToStream({
    kinesis,
    streamName: STREAM,
    failureQueue: { kind: 'sqs', sqs, queueUrl: QUEUE, waitSeconds: 0 },
    failedOut: join(dir, `out-${Math.random()}.jsonl`),
    now: () => NOW,
    backoff: { baseMs: 1, maxMs: 1 },
    ...options,
  });
}

describe('the SQS failure queue', () => {
  it('re-reads each range, puts its records back unchanged, deletes the message; keeps what it cannot re-drive', async () => {
    const notes: string[] = [];
    queueOf({
      whole: range(3, 6, 2),
      expired: range(1, 2, 30),
      other: range(7, 8, 2, { streamArn: 'arn:aws:kinesis:us-east-1:123456789012:stream/elsewhere' }),
      junk: '{"hello":"world"}',
    });
    const summary = await run({ onNote: (line) => notes.push(line) });
    expect(put.map((p) => JSON.parse(p.data).event_id)).toEqual(['seq3', 'seq4', 'seq5', 'seq6']);
    expect(put.map((p) => p.key)).toEqual(['key-3', 'key-4', 'key-5', 'key-6']);
    expect(deleted).toEqual(['r-whole']);
    expect(madeVisible.sort()).toEqual(['r-expired', 'r-junk', 'r-other']);
    expect(summary.failureQueue).toEqual({
      location: QUEUE,
      read: 4,
      resent: 1,
      stillFailing: 2,
      lostToRetention: 1,
      records: 4,
      recordsResent: 4,
      recordsLost: 2,
      deleted: 1,
      kept: 3,
      byReason: { lost_to_retention: 1, other_stream: 1, not_a_range: 1 },
      retentionHours: 24,
    });
    expect(summary.complete).toBe(false);
    expect(notes.join('\n')).toMatch(/beyond the stream's 24 h retention: lost to retention; message kept/);
    // The expired range was not read at all: its records are gone by arrival time.
    expect(kinesisMock.commandCalls(GetShardIteratorCommand)).toHaveLength(1);
  });

  it('re-sends what is left of a range whose first records passed the retention, and keeps its message', async () => {
    trimHorizon = 5;
    queueOf({ partly: range(3, 6, 2) });
    const summary = await run({});
    expect(put.map((p) => JSON.parse(p.data).event_id)).toEqual(['seq5', 'seq6']);
    expect(summary.failureQueue).toMatchObject({
      lostToRetention: 1,
      recordsLost: 2,
      recordsResent: 2,
      kept: 1,
    });
    expect(deleted).toEqual([]);
    expect(madeVisible).toEqual(['r-partly']);
  });

  it('keeps a range whose shard is gone, and one Kinesis refuses to take back', async () => {
    kinesisMock.on(GetShardIteratorCommand, { ShardId: 'shardId-000000000009' }).rejects(
      Object.assign(new Error('Shard shardId-000000000009 does not exist'), {
        name: 'ResourceNotFoundException',
      }),
    );
    kinesisMock.on(PutRecordsCommand).callsFake((input) => ({
      FailedRecordCount: input.Records.length,
      Records: input.Records.map(() => ({
        ErrorCode: 'InternalFailure',
        ErrorMessage: 'Internal Service Failure',
      })),
    }));
    queueOf({ gone: range(3, 4, 2, { shardId: 'shardId-000000000009' }), refused: range(10, 11, 2) });
    const summary = await run({ maxRetries: 1 });
    expect(summary.failureQueue?.byReason).toEqual({ lost_to_retention: 1, refused_by_kinesis: 1 });
    expect(deleted).toEqual([]);
    expect(madeVisible.sort()).toEqual(['r-gone', 'r-refused']);
    // A raw record refused again stays with its range, not in the failed-out file.
    expect(summary.failedOut).toBeUndefined();
  });

  it('in a dry run reads every range and sends, deletes and keeps back nothing', async () => {
    queueOf({ whole: range(3, 6, 2), expired: range(1, 2, 30) });
    const summary = await run({ dryRun: true });
    expect(put).toEqual([]);
    expect(deleted).toEqual([]);
    expect(madeVisible.sort()).toEqual(['r-expired', 'r-whole']);
    expect(summary.failureQueue).toMatchObject({
      resent: 1,
      recordsResent: 4,
      lostToRetention: 1,
      deleted: 0,
      kept: 2,
    });
    expect(kinesisMock.commandCalls(PutRecordsCommand)).toHaveLength(0);
  });

  it('answers a queue that does not exist with one line and a hint', async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .rejects(
        Object.assign(new Error('The specified queue does not exist.'), { name: 'QueueDoesNotExist' }),
      );
    await expect(run({})).rejects.toThrow(RedriveError);
    await expect(run({})).rejects.toMatchObject({ hint: expect.stringMatching(/aggregatorFailureQueue/) });
  });
});

describe('dead letters in S3', () => {
  const letter = (body: string, sequenceNumber: string) =>
    JSON.stringify({
      reason: 'bad_field',
      detail: 'x',
      shardId: 'shardId-000000000000',
      sequenceNumber,
      partitionKey: 'pk',
      approximateArrivalTimestamp: 1,
      data: Buffer.from(body).toString('base64'),
    });

  it('are listed page by page under the prefix, read once each, sent keyed by category, and the rest counted', async () => {
    const fixed = JSON.stringify(makeEvent({ event_id: 'dl1', category_id: '777' }));
    const objects: Record<string, string> = {
      'dead-letter/window-aggregator/shardId-000000000000/1-2.jsonl': `${letter(fixed, '1')}\n${letter('nope', '2')}\n`,
      // A retried batch wrote the same letter again under another key: counted once.
      'dead-letter/window-aggregator/shardId-000000000000/1-1.jsonl': `${letter(fixed, '1')}\n`,
    };
    s3Mock
      .on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: Object.keys(objects)[0] }],
        IsTruncated: true,
        NextContinuationToken: 't',
      })
      .resolves({ Contents: [{ Key: Object.keys(objects)[1] }] });
    s3Mock.on(GetObjectCommand).callsFake((input) => ({
      Body: { transformToString: async () => objects[input.Key] ?? '' },
    }));
    const { s3 } = clients();
    const summary = await run({
      failureQueue: undefined,
      deadLetters: { kind: 's3', s3, bucket: 'raw', prefix: 'dead-letter/window-aggregator/' },
    });
    expect(s3Mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'raw', Prefix: 'dead-letter/window-aggregator/' },
      { Bucket: 'raw', Prefix: 'dead-letter/window-aggregator/', ContinuationToken: 't' },
    ]);
    expect(put).toEqual([{ data: fixed, key: '777' }]);
    expect(summary.deadLetters).toEqual({
      location: 's3://raw/dead-letter/window-aggregator/',
      objects: 2,
      read: 2,
      resent: 1,
      stillFailing: 1,
      lostToRetention: 0,
      events: 1,
      byReason: { bad_json: 1 },
      refused: 0,
    });
  });
});

describe('failed records', () => {
  it('refused again go to the failed-out file in the same format, with their event ids', async () => {
    const file = join(dir, 'refused.failed.jsonl');
    const bodies = [1, 2, 3].map((i) => JSON.stringify(makeEvent({ event_id: `fr${i}` })));
    writeFileSync(
      file,
      bodies.map((body, i) => `{"line":${i + 2},"partitionKey":"cat-${i}","record":${body}}`).join('\n'),
    );
    kinesisMock.on(PutRecordsCommand).callsFake((input) => ({
      FailedRecordCount: input.Records.length,
      Records: input.Records.map(() => ({
        ErrorCode: 'ProvisionedThroughputExceededException',
        ErrorMessage: 'slow',
      })),
    }));
    const failedOut = join(dir, 'again.failed.jsonl');
    const summary = await run({ failureQueue: undefined, failedRecords: [file], failedOut, maxRetries: 0 });
    expect(summary.failedRecords).toMatchObject({ read: 3, resent: 0, stillFailing: 3, refused: 3 });
    expect(summary.failedOut).toBe(failedOut);
    const again = parseFailedRecords(readFileSync(failedOut, 'utf8'), failedOut);
    expect(again.map((e) => [e.event.event_id, e.partitionKey]).sort()).toEqual([
      ['fr1', 'cat-0'],
      ['fr2', 'cat-1'],
      ['fr3', 'cat-2'],
    ]);
    expect(summary.complete).toBe(false);
  });

  it('a file that is not one stops the run before anything is sent', async () => {
    const csv = join(dir, 'source.csv');
    writeFileSync(csv, 'event_time,event_type,product_id\n2019-10-01 00:00:00 UTC,view,1\n');
    await expect(run({ failureQueue: undefined, failedRecords: [csv] })).rejects.toThrow(
      /source.csv:1 is not JSON/,
    );
    await expect(
      run({ failureQueue: undefined, failedRecords: [join(dir, 'missing.jsonl')] }),
    ).rejects.toThrow(/no such file/);
    await expect(run({ failureQueue: undefined, failedRecords: [csv], failedOut: csv })).rejects.toThrow(
      /is also an input/,
    );
    expect(kinesisMock.commandCalls(PutRecordsCommand)).toHaveLength(0);
    expect(kinesisMock.commandCalls(ListShardsCommand)).toHaveLength(0);
    expect(readFileSync(csv, 'utf8')).toMatch(/^event_time/);
  });
});

describe('the local on-failure file, taken like a queue', () => {
  const file = () => join(dir, `on-failure-${Math.random()}.jsonl`);
  const runFile = (path: string, options: Partial<RedriveToStreamOptions> = {}) =>
    run({ failureQueue: { kind: 'file', path }, ...options });

  it('keeps only the lines it could not re-drive, and leaves no claim behind', async () => {
    const path = file();
    writeFileSync(path, `${range(3, 6, 2)}\n${range(1, 2, 30)}\n`);
    const summary = await runFile(path);
    expect(summary.failureQueue).toMatchObject({
      read: 2,
      resent: 1,
      lostToRetention: 1,
      deleted: 1,
      kept: 1,
    });
    expect(readFileSync(path, 'utf8')).toBe(`${range(1, 2, 30)}\n`);
    expect(existsSync(`${path}.redriving`)).toBe(false);
  });

  it('takes up the lines a run that died was holding, before the new ones', async () => {
    const path = file();
    writeFileSync(`${path}.redriving`, `${range(3, 4, 2)}\n`);
    writeFileSync(path, `${range(5, 6, 2)}\n`);
    const summary = await runFile(path);
    expect(summary.failureQueue).toMatchObject({ read: 2, resent: 2, deleted: 2, kept: 0 });
    expect(put.map((p) => JSON.parse(p.data).event_id)).toEqual(['seq3', 'seq4', 'seq5', 'seq6']);
    expect(existsSync(`${path}.redriving`)).toBe(false);
  });

  it('a line that is no on-failure record stops the run and leaves the file as it was', async () => {
    const path = file();
    const text = `${range(3, 6, 2)}\n{"not":"a range"}\n`;
    writeFileSync(path, text);
    await expect(runFile(path)).rejects.toThrow(/:2 is not an on-failure record \(no KinesisBatchInfo\)/);
    expect(readFileSync(path, 'utf8')).toBe(text);
    expect(existsSync(`${path}.redriving`)).toBe(false);
    expect(kinesisMock.commandCalls(PutRecordsCommand)).toHaveLength(0);
  });

  it('stopped (Ctrl-C) before a line, keeps that line and every one after it', async () => {
    const path = file();
    const text = `${range(3, 4, 2)}\n${range(5, 6, 2)}\n`;
    writeFileSync(path, text);
    const abort = new AbortController();
    abort.abort();
    const summary = await runFile(path, { signal: abort.signal });
    expect(summary).toMatchObject({ interrupted: true, complete: false });
    expect(readFileSync(path, 'utf8')).toBe(text);
    expect(put).toEqual([]);
  });

  it('in a dry run reads the file and changes nothing', async () => {
    const path = file();
    const text = `${range(3, 6, 2)}\n`;
    writeFileSync(path, text);
    const summary = await runFile(path, { dryRun: true });
    expect(summary.failureQueue).toMatchObject({ read: 1, resent: 1, recordsResent: 4, deleted: 0, kept: 1 });
    expect(readFileSync(path, 'utf8')).toBe(text);
    expect(put).toEqual([]);
  });
});

describe('the command’s flags', () => {
  it('answer a missing source, a queue that is no URL and an unknown stack queue with one line and a hint, before any call', async () => {
    const cases: Array<[string[], string]> = [
      [[], 'error: nothing to re-drive'],
      [['--failure-queue', 'failures'], 'error: --failure-queue failures is not a queue URL'],
      [
        ['--failure-queue'],
        'error: the failure queue is not known (names.aggregatorFailureQueue is "clickstream-window-aggregator-failures", not a queue URL)',
      ],
      [['--alerter-failure-queue', 'failures'], 'error: --alerter-failure-queue failures is not a queue URL'],
      [
        ['--alerter-failure-queue'],
        `error: the bot alerter's failure queue is not known (names.alerterFailureQueue is "clickstream-bot-alerter-failures", not a queue URL)`,
      ],
      [['--dead-letters', 'raw/dead-letter/'], 'error: --dead-letters raw/dead-letter/: no such directory'],
      [['--dead-letters', 's3://raw'], 'error: --dead-letters s3://raw is not s3://bucket/prefix/'],
      [
        ['--failed-records', 'x.jsonl', '--partition-key', 'brand'],
        'error: --partition-key brand is not supported',
      ],
    ];
    for (const [flags, message] of cases) {
      const ran = await runMain(['redrive', '--region', 'us-east-1', ...flags, '--json']);
      expect(ran.code, flags.join(' ')).toBe(2);
      expect(ran.stdout).toBe('');
      const [error, hint] = ran.stderr.trim().split('\n');
      expect(error).toBe(message);
      expect(hint).toMatch(/^hint: /);
    }
    expect(kinesisMock.calls()).toHaveLength(0);
    expect(sqsMock.calls()).toHaveLength(0);
  });
});
