/**
 * Resume state. The rule: the checkpoint names a position (line and byte offset at a row boundary)
 * below which every row is accounted for: sent and acknowledged, rejected, skipped, or written to the
 * failed-records file. A resumed run starts there, so nothing is lost; rows after it that the crashed
 * run had already sent are sent again (the reader never runs more than `window` records ahead of the
 * last saved position, which bounds them), with the same event ids, so the pipeline counts them once.
 *
 * A checkpoint applies only to the source and stream it was written for: it records the source's tag
 * (its content, core/event.ts sourceTag) and the stream's creation time, and a run whose source
 * changed, or whose stream was created again (a fresh local stack, a redeployed one), starts over.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { sourceTag } from '../core/event.ts';
import type { Settlement } from './batcher.ts';
import { ProducerError } from './errors.ts';
import { openSource, type SourceRef } from './source.ts';

export interface Position {
  /** Last line accounted for (0: none, 1: the header). */
  line: number;
  /** Byte offset (decompressed) where the next row starts. */
  byteOffset: number;
  /** Rows considered (the summary's `read`) before this position, over all runs: what --limit counts. */
  read: number;
}

export interface CheckpointFile extends Position {
  /** 1: written before events carried ids (no sourceTag, no streamCreatedAt). */
  version: 1 | 2;
  source: string;
  streamName: string;
  partitionKey: string;
  /** The source's tag: the prefix of every event id of this run. */
  sourceTag?: string;
  /** Stored size of the source, as its tag was computed from. */
  sourceBytes?: number;
  /** When the stream was created (ISO-8601); absent in dry runs or when it could not be read. */
  streamCreatedAt?: string;
  /** Upper bound on records read past this position: the duplicates a resume can produce. */
  window: number;
  complete: boolean;
  updatedAt: string;
}

export function loadCheckpoint(path: string): CheckpointFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProducerError(`cannot read checkpoint ${path}: ${(error as Error).message}`, undefined, {
      cause: error,
    });
  }
  try {
    const parsed = JSON.parse(text) as CheckpointFile;
    if (
      (parsed.version !== 1 && parsed.version !== 2) ||
      typeof parsed.line !== 'number' ||
      typeof parsed.byteOffset !== 'number' ||
      typeof parsed.read !== 'number'
    ) {
      throw new Error('unknown layout');
    }
    return parsed;
  } catch (error) {
    throw new ProducerError(
      `checkpoint ${path} is not a replay checkpoint`,
      'delete it, or pass --restart, to start from the beginning',
      {
        cause: error,
      },
    );
  }
}

/** Where replay keeps the checkpoint of a source and stream unless told otherwise. */
export const CHECKPOINT_DIRECTORY = join('.clickstream', 'checkpoints');

/**
 * The default checkpoint of replaying `location` into `streamName` of `target` (e.g. `aws:eu-west-1`,
 * `local`): `<directory>/<file stem>-<hash>.json`, the stem so a person can tell them apart. Files are
 * named by their absolute path, so a run from another directory finds the same checkpoint.
 */
export function defaultCheckpointPath(
  location: string,
  streamName: string,
  target: string,
  directory = CHECKPOINT_DIRECTORY,
): string {
  const where = location.startsWith('s3://') ? location : resolve(location);
  const digest = createHash('sha256').update(`${where}\n${streamName}\n${target}`).digest('hex');
  const stem = basename(where)
    .replace(/\.gz$/i, '')
    .replace(/\.csv$/i, '')
    .replace(/[^\w.-]/g, '_');
  return join(directory, `${stem || 'source'}-${digest.slice(0, 12)}.json`);
}

/** The bytes a source's tag is computed from: enough to tell generated and real files apart. */
const SOURCE_HEAD_BYTES = 64 * 1024;

export interface SourceIdentity {
  tag: string;
  /** Stored size (compressed for gzip), -1 when the store does not say. */
  bytes: number;
}

/**
 * Reads the first 64 KiB of the source as stored (compressed, for gzip: nothing to inflate, and no
 * inflating stream left holding the file open) and its stored size, and names its content with
 * core/event.ts sourceTag. Opened like the replay opens it, so a missing object or file fails here
 * with the same one-line error.
 */
export async function readSourceIdentity(
  ref: SourceRef,
  options: { s3?: S3Client; signal?: AbortSignal } = {},
): Promise<SourceIdentity> {
  const opened = await openSource({ ...ref, gzip: false }, options);
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of opened.stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= SOURCE_HEAD_BYTES) break;
    }
  } finally {
    opened.stream.destroy();
  }
  const head = Buffer.concat(chunks, length).subarray(0, SOURCE_HEAD_BYTES);
  const bytes = opened.storedBytes ?? -1;
  return { tag: sourceTag(head, bytes), bytes };
}

/**
 * When the stream was created, to tell a checkpoint of an earlier stream of the same name. Best
 * effort: a caller allowed to put records but not to describe the stream still replays (the source
 * check alone then decides).
 */
export async function streamCreatedAt(
  kinesis: KinesisClient,
  streamName: string,
): Promise<string | undefined> {
  try {
    const { StreamDescriptionSummary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: streamName }),
    );
    return StreamDescriptionSummary?.StreamCreationTimestamp?.toISOString();
  } catch {
    return undefined;
  }
}

/** Why a checkpoint no longer applies, or undefined when the run may resume from it. */
export function staleReason(
  checkpoint: CheckpointFile,
  identity: SourceIdentity,
  createdAt: string | undefined,
): string | undefined {
  if (checkpoint.sourceTag !== undefined && checkpoint.sourceTag !== identity.tag)
    return 'the source changed since the checkpoint was written';
  if (
    checkpoint.streamCreatedAt !== undefined &&
    createdAt !== undefined &&
    checkpoint.streamCreatedAt !== createdAt
  )
    return `stream ${checkpoint.streamName} was created again since the checkpoint was written`;
  return undefined;
}

/** Write-then-rename: a kill at any moment leaves the old or the new checkpoint, never half of one. */
export function saveCheckpoint(path: string, state: CheckpointFile): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temporary, path);
}

/** A contiguous run of rows; done when sealed and every record in it is settled. */
class Span implements Settlement {
  outstanding = 0;
  records = 0;
  sealed = false;
  end: Position = { line: 0, byteOffset: 0, read: 0 };

  constructor(private readonly tracker: ProgressTracker) {}

  settle(count: number): void {
    this.outstanding -= count;
    if (this.outstanding === 0 && this.sealed) this.tracker.advance();
  }
}

/**
 * Tracks which rows are accounted for, span by span (a span is at most one parser chunk), and how many
 * records have been read past the last saved position.
 */
export class ProgressTracker {
  private spans: Span[] = [];
  private head = 0;
  private position: Position;
  private saved: Position;
  /** Records in spans after the saved position. */
  private unsaved = 0;
  private savedIndex = 0;
  private waiters: Array<() => void> = [];

  constructor(start: Position) {
    this.position = { ...start };
    this.saved = { ...start };
  }

  open(): Span {
    const span = new Span(this);
    this.spans.push(span);
    return span;
  }

  /** Adds one record to an open span. */
  add(span: Span): void {
    span.outstanding++;
    span.records++;
    this.unsaved++;
  }

  seal(span: Span, end: Position): void {
    span.sealed = true;
    span.end = end;
    if (span.outstanding === 0) this.advance();
  }

  /** Everything below this is accounted for. */
  get accounted(): Position {
    return this.position;
  }

  /** Records read past the last saved position (the duplicates a crash now would cause, at most). */
  get readPastSaved(): number {
    return this.unsaved;
  }

  /** Records in flight or buffered: read, not yet settled. */
  get unsettled(): number {
    let count = 0;
    for (let i = this.head; i < this.spans.length; i++) count += (this.spans[i] as Span).outstanding;
    return count;
  }

  /** Call after the accounted position is persisted. */
  markSaved(position: Position): void {
    this.saved = position;
    while (this.savedIndex < this.head) {
      const span = this.spans[this.savedIndex] as Span;
      if (span.end.byteOffset > position.byteOffset) break;
      this.unsaved -= span.records;
      this.savedIndex++;
    }
    if (this.savedIndex > 1024) {
      this.spans = this.spans.slice(this.savedIndex);
      this.head -= this.savedIndex;
      this.savedIndex = 0;
    }
  }

  get savedPosition(): Position {
    return this.saved;
  }

  /** Resolves the next time the accounted position moves. */
  nextAdvance(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  advance(): void {
    let moved = false;
    while (this.head < this.spans.length) {
      const span = this.spans[this.head] as Span;
      if (!span.sealed || span.outstanding > 0) break;
      this.position = span.end;
      this.head++;
      moved = true;
    }
    if (moved) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}
