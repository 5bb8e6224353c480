/**
 * A PutRecords call some of whose entries are refused before they reach the emulator: the refused
 * entries are taken out, the others forwarded in their order, and the answer is put together as
 * Kinesis gives it (HTTP 200, one result per entry at the entry's index, FailedRecordCount counting
 * every failed one; https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html).
 * The chaos proxy refuses entries at random or by count, the shard limits by budget; both answer here.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ForwardedResponse } from '../http-forward.ts';
import type { Forward } from './shard-router.ts';

/** The account in the ARNs and messages of the local stack. */
export const LOCAL_ACCOUNT = '000000000000';

export const THROUGHPUT_EXCEEDED = 'ProvisionedThroughputExceededException';

export interface PutRecordsEntry {
  Data: string;
  PartitionKey: string;
  ExplicitHashKey?: string;
}

export interface PutRecordsBody {
  StreamName?: string;
  StreamARN?: string;
  Records: PutRecordsEntry[];
}

export interface EntryError {
  ErrorCode: string;
  ErrorMessage: string;
}

export type PutRecordsResultEntry = { SequenceNumber: string; ShardId: string } | EntryError;

/** A refused entry, worded as Kinesis words it. */
export function throughputExceededEntry(shardId: string, streamName: string): EntryError {
  return {
    ErrorCode: THROUGHPUT_EXCEEDED,
    ErrorMessage: `Rate exceeded for shard ${shardId} in stream ${streamName} under account ${LOCAL_ACCOUNT}.`,
  };
}

/** A JSON error answer of the Kinesis API (HTTP 400 unless said otherwise). */
export function jsonError(type: string, message: string, requestId: string, status = 400): ForwardedResponse {
  return jsonAnswer({ __type: type, message }, requestId, status);
}

export function jsonAnswer(body: unknown, requestId: string, status = 200): ForwardedResponse {
  const bytes = Buffer.from(JSON.stringify(body));
  return {
    status,
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': String(bytes.length),
      'x-amzn-requestid': requestId,
    },
    body: bytes,
  };
}

export interface PutRecordsCall {
  forward: Forward;
  /** The caller's request: its headers go upstream with the kept entries. */
  req: { headers: IncomingHttpHeaders; method?: string | undefined; url?: string | undefined };
  /** The body as it came, forwarded unchanged when nothing is refused. */
  raw: Buffer;
  body: PutRecordsBody;
  /** The refused entries by index, with the error each is answered with. */
  refused: ReadonlyMap<number, EntryError>;
  requestId: () => string;
}

/**
 * Forwards what is not refused and answers for the whole call. An upstream answer other than 200
 * (a malformed call, a missing stream) is handed back as it is: then nothing was written.
 */
export async function putRecordsExcept(call: PutRecordsCall): Promise<ForwardedResponse> {
  const { body, refused } = call;
  if (refused.size === 0) return call.forward(call.req, call.raw);
  let forwarded: PutRecordsResultEntry[] = [];
  const kept = body.Records.filter((_, i) => !refused.has(i));
  if (kept.length > 0) {
    const upstream = await call.forward(call.req, Buffer.from(JSON.stringify({ ...body, Records: kept })));
    if (upstream.status !== 200) return upstream;
    forwarded = (JSON.parse(upstream.body.toString('utf8')) as { Records: PutRecordsResultEntry[] }).Records;
  }
  const records: PutRecordsResultEntry[] = [];
  let next = 0;
  let failed = 0;
  for (let i = 0; i < body.Records.length; i++) {
    const result = refused.get(i) ?? (forwarded[next++] as PutRecordsResultEntry);
    if ('ErrorCode' in result) failed++;
    records.push(result);
  }
  return jsonAnswer({ FailedRecordCount: failed, Records: records }, call.requestId());
}

/** Whether a parsed body is a PutRecords call this module can take apart (else it goes upstream as is). */
export function isPutRecordsBody(body: unknown): body is PutRecordsBody {
  const records = (body as { Records?: unknown } | null)?.Records;
  return (
    Array.isArray(records) &&
    records.length > 0 &&
    // More than Kinesis takes in one call: the emulator's own validation answers.
    records.length <= 500 &&
    records.every(
      (entry) =>
        typeof (entry as PutRecordsEntry | null)?.Data === 'string' &&
        typeof (entry as PutRecordsEntry).PartitionKey === 'string',
    )
  );
}
