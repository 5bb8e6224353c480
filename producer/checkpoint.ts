/**
 * Resume state. The rule: the checkpoint names a position (line and byte offset at a row boundary)
 * below which every row is accounted for: sent and acknowledged, rejected, skipped, or written to the
 * failed-records file. A resumed run starts there, so nothing is lost; rows after it that the crashed
 * run had already sent arrive twice, and the reader never runs more than `window` records ahead of the
 * last saved position, which bounds those duplicates.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Settlement } from './batcher.ts';
import { ProducerError } from './errors.ts';

export interface Position {
  /** Last line accounted for (0: none, 1: the header). */
  line: number;
  /** Byte offset (decompressed) where the next row starts. */
  byteOffset: number;
  /** Rows considered (the summary's `read`) before this position, over all runs: what --limit counts. */
  read: number;
}

export interface CheckpointFile extends Position {
  version: 1;
  source: string;
  streamName: string;
  partitionKey: string;
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
      parsed.version !== 1 ||
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
      'delete it to start from the beginning',
      {
        cause: error,
      },
    );
  }
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
