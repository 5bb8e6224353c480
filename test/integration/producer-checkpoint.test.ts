/**
 * Event ids and the checkpoint that replay always keeps: ids name a source's content and line, so the
 * same file sent twice (resumed, restarted, or from S3 after disk) carries the same ids; a checkpoint
 * resumes only the source and stream it was written for; and the CLI keeps one by default.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RESOURCE_NAMES } from '../../core/resources.ts';
import { defaultCheckpointPath, loadCheckpoint } from '../../producer/checkpoint.ts';
import { describeStart, replayToStream } from '../../producer/replay.ts';
import {
  createStream,
  csv,
  readStream,
  startKinesis,
  startS3,
  type TestKinesis,
  type TestS3,
  tempDir,
  validRows,
} from '../support/producer-support.ts';

let kinesis: TestKinesis;
let s3: TestS3;
let dir: ReturnType<typeof tempDir>;
let streams = 0;
beforeAll(async () => {
  kinesis = await startKinesis(2);
  s3 = await startS3(['raw']);
  dir = tempDir('producer-checkpoint-');
});
afterAll(async () => {
  await kinesis?.stop();
  await s3?.stop();
  dir?.remove();
});

async function freshStream(): Promise<string> {
  const name = `stream-${++streams}`;
  await createStream(kinesis.kinesis, name, 2);
  return name;
}

/** event_id → the bodies carrying it, without replayed_at. */
async function eventsById(streamName: string): Promise<Map<string, string[]>> {
  const byId = new Map<string, string[]>();
  for (const { body } of await readStream(kinesis.kinesis, streamName)) {
    const { replayed_at: _sentAt, ...event } = body;
    const id = String(event.event_id);
    byId.set(id, [...(byId.get(id) ?? []), JSON.stringify(event)]);
  }
  return byId;
}

describe('event ids', () => {
  it('name the source content and the line: the same file from disk and from S3 gets the same ids', async () => {
    const text = csv(validRows(300));
    const path = join(dir.path, 'same.csv');
    writeFileSync(path, text);
    await s3.s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'copy/same.csv', Body: text }));
    const fromDisk = await freshStream();
    const fromS3 = await freshStream();
    const a = await replayToStream({ kinesis: kinesis.kinesis, streamName: fromDisk, source: path });
    const b = await replayToStream({
      kinesis: kinesis.kinesis,
      s3: s3.s3,
      streamName: fromS3,
      source: 's3://raw/copy/same.csv',
      rejects: join(dir.path, 'same-s3.rejects.csv'),
      failedOut: join(dir.path, 'same-s3.failed.jsonl'),
    });
    expect(a.sourceTag).toMatch(/^[0-9A-Za-z_-]{8}$/);
    expect(b.sourceTag).toBe(a.sourceTag);
    const disk = await eventsById(fromDisk);
    expect(disk.size).toBe(300);
    expect(await eventsById(fromS3)).toEqual(disk);
    // Line 2 is the first row (line 1 is the header), in base36 after the tag.
    expect(disk.has(`${a.sourceTag}2`)).toBe(true);
    expect(disk.has(`${a.sourceTag}${(301).toString(36)}`)).toBe(true);

    // Another file's content gets another tag, so its rows are other events.
    writeFileSync(path, csv(validRows(300, (i) => ({ userId: String(600000000 + i) }))));
    const other = await replayToStream({
      kinesis: kinesis.kinesis,
      streamName: await freshStream(),
      source: path,
      dryRun: true,
    });
    expect(other.sourceTag).not.toBe(a.sourceTag);
  });
});

describe('checkpoint', () => {
  it('is resumed only for the source and stream it was written for', async () => {
    const path = join(dir.path, 'changing.csv');
    const checkpoint = join(dir.path, 'changing.checkpoint.json');
    writeFileSync(path, csv(validRows(200)));
    const streamName = await freshStream();
    const replay = () =>
      replayToStream({ kinesis: kinesis.kinesis, streamName, source: path, checkpoint, window: 50 });

    const first = await replay();
    expect(first).toMatchObject({ read: 200, sent: 200 });
    expect(loadCheckpoint(checkpoint)).toMatchObject({
      version: 2,
      complete: true,
      sourceTag: first.sourceTag,
    });
    const again = await replay();
    expect(again).toMatchObject({ read: 0, sent: 0, resumedFrom: { line: 201 } });
    expect(again.startedOver).toBeUndefined();

    writeFileSync(path, csv(validRows(250)));
    const changed = await replay();
    expect(changed).toMatchObject({ read: 250, sent: 250 });
    expect(changed.startedOver).toBe('the source changed since the checkpoint was written');
    expect(changed.resumedFrom).toBeUndefined();

    // The same stream name, created again (a fresh local stack, a redeployed one): nothing of it is sent.
    // Creation times have second precision, so the new stream is created in a later second.
    await kinesis.kinesis.send(new DeleteStreamCommand({ StreamName: streamName }));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await createStream(kinesis.kinesis, streamName, 2);
    const recreated = await replay();
    expect(recreated).toMatchObject({ read: 250, sent: 250 });
    expect(recreated.startedOver).toBe(
      `stream ${streamName} was created again since the checkpoint was written`,
    );
    expect((await eventsById(streamName)).size).toBe(250);

    const restarted = await replayToStream({
      kinesis: kinesis.kinesis,
      streamName,
      source: path,
      checkpoint,
      restart: true,
    });
    expect(restarted).toMatchObject({ read: 250, sent: 250 });
    // Sent twice, each event under one id, the copies identical but for the time they were sent.
    const byId = await eventsById(streamName);
    expect(byId.size).toBe(250);
    for (const copies of byId.values()) expect(new Set(copies).size).toBe(1);
  });

  it('has a default path per source, stream and target, the same from any working directory', () => {
    const a = defaultCheckpointPath('data/2019-Oct.csv.gz', 'events', 'local');
    expect(a).toMatch(/^\.clickstream\/checkpoints\/2019-Oct-[0-9a-f]{12}\.json$/);
    expect(defaultCheckpointPath(join(process.cwd(), 'data/2019-Oct.csv.gz'), 'events', 'local')).toBe(a);
    expect(defaultCheckpointPath('data/2019-Oct.csv.gz', 'other', 'local')).not.toBe(a);
    expect(defaultCheckpointPath('data/2019-Oct.csv.gz', 'events', 'aws:eu-west-1')).not.toBe(a);
    expect(defaultCheckpointPath('s3://raw/kaggle/2019-Oct.csv', 'events', 'local')).toMatch(/2019-Oct-/);
  });

  it('says where a run starts', () => {
    const base = { sourceTag: 'Xk3_a9Qz', checkpoint: 'c.json' };
    expect(describeStart(base)).toBe('replaying from the first row (event ids Xk3_a9Qz…)');
    expect(
      describeStart({
        ...base,
        sourceBytes: 40_000,
        resumedFrom: { line: 1_501, byteOffset: 10_000, read: 1_500, complete: false },
      }),
    ).toBe('resuming at row 1,501, line 1,502, byte 10,000 of 40,000 (25% of the source)');
    expect(
      describeStart({
        ...base,
        resumedFrom: { line: 3_001, byteOffset: 40_000, read: 3_000, complete: true },
      }),
    ).toMatch(/^the checkpoint says all 3,000 rows were replayed; nothing to send \(--restart/);
    expect(
      describeStart({ ...base, startedOver: 'the source changed since the checkpoint was written' }),
    ).toBe('the source changed since the checkpoint was written: replaying from the first row');
  });
});

describe('clickstream replay', () => {
  const BIN = join(import.meta.dirname, '..', '..', 'bin', 'clickstream.js');
  const cli = promisify(execFile);

  it('keeps a checkpoint by default, resumes from it, and starts over with --restart or keeps none with --no-checkpoint', async () => {
    const work = tempDir('producer-cli-');
    try {
      const streamName = await freshStream();
      const state = join(work.path, 'local-stack.json');
      // The state file of a running local stack (this process stands in for it) whose Kinesis is ours.
      writeFileSync(
        state,
        JSON.stringify({
          pid: process.pid,
          startedAt: new Date().toISOString(),
          endpoints: {
            kinesis: kinesis.endpoint,
            dynamodb: 'http://127.0.0.1:9',
            s3: s3.endpoint,
            sns: 'http://127.0.0.1:9',
          },
          names: { ...DEFAULT_RESOURCE_NAMES, eventsStream: streamName },
          topicArn: 'arn:aws:sns:us-east-1:000000000000:alerts',
        }),
      );
      writeFileSync(join(work.path, 'day.csv'), csv(validRows(120)));
      const replay = async (...flags: string[]) => {
        const { stdout, stderr } = await cli(
          process.execPath,
          [BIN, 'replay', '--local', '--source', 'day.csv', ...flags],
          { cwd: work.path, env: { ...process.env, NO_COLOR: '1', CLICKSTREAM_STATE_FILE: state } },
        );
        return { sent: Number(/, sent (\d+),/.exec(stdout)?.[1]), output: `${stderr}${stdout}` };
      };

      const first = await replay();
      const checkpoint = defaultCheckpointPath(join(work.path, 'day.csv'), streamName, 'local');
      expect(checkpoint.startsWith('.clickstream/checkpoints/day-')).toBe(true);
      expect(first.sent).toBe(120);
      expect(first.output).toContain(`checkpoint: ${checkpoint}\n`);
      expect(first.output).toContain('replaying from the first row');
      expect(existsSync(join(work.path, checkpoint))).toBe(true);

      const second = await replay();
      expect(second.sent).toBe(0);
      expect(second.output).toContain('the checkpoint says all 120 rows were replayed; nothing to send');

      const restarted = await replay('--restart');
      expect(restarted.sent).toBe(120);
      expect(restarted.output).toContain(`checkpoint: ${checkpoint} (--restart: starting over)`);
      const none = await replay('--no-checkpoint');
      expect(none.sent).toBe(120);
      expect(none.output).not.toContain('checkpoint');

      const byId = await eventsById(streamName);
      expect(byId.size).toBe(120);
      for (const copies of byId.values()) expect(copies).toHaveLength(3);
    } finally {
      work.remove();
    }
  }, 120_000);
});
