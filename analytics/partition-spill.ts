/**
 * Lines parked on disk, one file per partition of users, for a comparison too big to hold at once:
 * verify writes each side of it here in one pass, then reads it back one partition at a time.
 * Writes are synchronous and buffered: verify is a command, not a server, and a sync write lets the
 * DynamoDB scan's page callback hand lines over without waiting. No file stays open between writes:
 * a big source has hundreds of partitions, more than a shell's usual limit of 256-1,024 open files.
 */
import { appendFileSync, createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** What a partition buffers before it is written, and what all of them may buffer together. */
const PARTITION_BUFFER_BYTES = 256 * 1024;
const TOTAL_BUFFER_BYTES = 16 * 1024 * 1024;

export interface PartitionSpill {
  readonly partitions: number;
  /** Where the files are: a fresh directory under the OS temp directory. */
  readonly directory: string;
  /** Parks one line (no line break in it) in a partition. */
  add(partition: number, line: string): void;
  /** A partition's lines in the order they were added; everything added before is written first. */
  lines(partition: number): AsyncIterable<string>;
  /** Writes out what every partition still buffers. */
  flush(): void;
  /** Bytes written to disk so far. */
  bytesWritten(): number;
  /** Removes the files; the spill is unusable afterwards. Safe to call twice. */
  dispose(): void;
}

export function createPartitionSpill(partitions: number, label: string): PartitionSpill {
  const directory = mkdtempSync(join(tmpdir(), `clickstream-${label}-`));
  const buffers: string[][] = Array.from({ length: partitions }, () => []);
  const bufferedBytes = new Array<number>(partitions).fill(0);
  let totalBuffered = 0;
  let written = 0;
  let disposed = false;

  const pathOf = (partition: number) => join(directory, `${partition}.jsonl`);
  const flush = (partition: number) => {
    const lines = buffers[partition] as string[];
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    appendFileSync(pathOf(partition), text);
    written += Buffer.byteLength(text);
    totalBuffered -= bufferedBytes[partition] as number;
    bufferedBytes[partition] = 0;
    buffers[partition] = [];
  };

  return {
    partitions,
    directory,
    add(partition, line) {
      if (disposed) throw new Error('partition spill used after dispose');
      (buffers[partition] as string[]).push(line);
      // UTF-16 length: close enough to bound the buffers, which is all it is for.
      bufferedBytes[partition] = (bufferedBytes[partition] as number) + line.length + 1;
      totalBuffered += line.length + 1;
      if ((bufferedBytes[partition] as number) >= PARTITION_BUFFER_BYTES) flush(partition);
      else if (totalBuffered >= TOTAL_BUFFER_BYTES) for (let p = 0; p < partitions; p++) flush(p);
    },
    async *lines(partition) {
      flush(partition);
      if (!existsSync(pathOf(partition))) return;
      const input = createReadStream(pathOf(partition), { encoding: 'utf8' });
      try {
        for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) yield line;
      } finally {
        input.destroy();
      }
    },
    flush() {
      for (let p = 0; p < partitions; p++) flush(p);
    },
    bytesWritten: () => written,
    dispose() {
      if (disposed) return;
      disposed = true;
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
