/**
 * The checkpoint file: each shard's last completed sequence number and its open window, so a runner
 * started again resumes where the last one stopped (AFTER_SEQUENCE_NUMBER) with the window's state.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RunnerState } from './runner-state.ts';
import { LambdaRunnerError } from './settings.ts';
import type { OpenWindow, ShardCursor } from './shard-cursor.ts';

export interface CheckpointFile {
  shards: Record<string, { sequenceNumber: string | null; window?: OpenWindow }>;
}

export async function readCheckpoints(path: string): Promise<CheckpointFile | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as CheckpointFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LambdaRunnerError(`cannot read checkpoint file ${path}`, { cause: error });
  }
}

export async function writeCheckpoints(path: string, cursors: readonly ShardCursor[]): Promise<void> {
  const file: CheckpointFile = {
    shards: Object.fromEntries(
      cursors.map((cursor) => [
        cursor.shardId,
        { sequenceNumber: cursor.checkpoint, ...(cursor.window ? { window: cursor.window } : {}) },
      ]),
    ),
  };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify(file));
}

/** Writes the checkpoint file, when the runner keeps one. */
export async function saveCheckpoints(run: RunnerState): Promise<void> {
  if (run.options.checkpointFile) await writeCheckpoints(run.options.checkpointFile, run.cursors);
}

/** Marks the shard done up to `sequenceNumber` (nothing when the batch had no record done). */
export async function checkpoint(
  run: RunnerState,
  cursor: ShardCursor,
  sequenceNumber: string | undefined,
): Promise<void> {
  if (sequenceNumber === undefined) return;
  cursor.checkpoint = sequenceNumber;
  await saveCheckpoints(run);
}
