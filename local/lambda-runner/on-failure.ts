/**
 * Where a discarded batch goes: AWS sends the on-failure destination the batch's metadata, not its
 * records, once retries are exhausted or its oldest record is too old.
 * https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 */
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BufferedRecord } from './shard-cursor.ts';

/** The on-failure destination record AWS sends for a discarded Kinesis batch (metadata, not data). */
export interface OnFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
    approximateInvokeCount: number;
  };
  responseContext: { statusCode: number; executedVersion: string; functionError: string };
  version: '1.0';
  timestamp: string;
  KinesisBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
}

export interface OnFailureDestination {
  send(record: OnFailureRecord): Promise<void>;
}

export function createMemoryOnFailureDestination(): OnFailureDestination & { records: OnFailureRecord[] } {
  const records: OnFailureRecord[] = [];
  return {
    records,
    async send(record) {
      records.push(record);
    },
  };
}

/** One JSON object per line, appended (the local stand-in for an SQS queue or S3 prefix). */
export function createFileOnFailureDestination(path: string): OnFailureDestination {
  return {
    async send(record) {
      await mkdir(dirname(path), { recursive: true });
      await appendFile(path, `${JSON.stringify(record)}\n`);
    },
  };
}

/** The record AWS sends for a discarded batch of a shard (undefined for an empty one). */
export function onFailureRecord(batch: {
  functionArn: string;
  streamArn: string;
  shardId: string;
  records: readonly BufferedRecord[];
  invokeCount: number;
  condition: OnFailureRecord['requestContext']['condition'];
}): OnFailureRecord | undefined {
  const first = batch.records[0];
  const last = batch.records[batch.records.length - 1];
  if (!first || !last) return undefined;
  return {
    requestContext: {
      requestId: randomUUID(),
      functionArn: batch.functionArn,
      condition: batch.condition,
      approximateInvokeCount: batch.invokeCount,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: new Date().toISOString(),
    KinesisBatchInfo: {
      shardId: batch.shardId,
      startSequenceNumber: first.record.kinesis.sequenceNumber,
      endSequenceNumber: last.record.kinesis.sequenceNumber,
      approximateArrivalOfFirstRecord: new Date(first.arrivalMs).toISOString(),
      approximateArrivalOfLastRecord: new Date(last.arrivalMs).toISOString(),
      batchSize: batch.records.length,
      streamArn: batch.streamArn,
    },
  };
}
