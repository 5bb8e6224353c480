/**
 * What `clickstream local up` owns, on disk beside its state file, so that `up`, `status` and `down`
 * all see the same things: the `local up` process, every child it started (with start time and
 * command line, local/processes.ts) and its temp directory. The record is written before the first
 * child starts and kept current, so a stack that dies any way at all (kill -9 included) leaves a
 * record of exactly what it left behind, and nothing else is ever touched.
 */
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { z } from 'zod';
import { identify, isAlive, type OwnedProcess, type Ownership, stopRecorded } from '../local/processes.ts';
import { ClickstreamError } from './command.ts';
import { processIdentitySchema, readStateFile, stackIsRunning } from './config.ts';

export interface StackFiles {
  /** Where other commands find the stack's endpoints (written once it is up). */
  state: string;
  /** What the stack owns (written from its first moment). */
  owned: string;
  /** The consumers' files (dead letters, on-failure records): per stack, so two never share them. */
  workDir: string;
}

export function stackFiles(stateFile: string): StackFiles {
  const stem = basename(stateFile, extname(stateFile));
  return {
    state: stateFile,
    owned: join(dirname(stateFile), `${stem}.processes.json`),
    workDir: join(dirname(stateFile), stem),
  };
}

const ownedProcessSchema = processIdentitySchema.extend({ role: z.string() });
const ownedRecordSchema = z.object({
  owner: ownedProcessSchema,
  processes: z.array(ownedProcessSchema),
  directories: z.array(z.string()),
});
export type OwnedRecord = z.infer<typeof ownedRecordSchema>;

export function readOwnedRecord(path: string): OwnedRecord | undefined {
  try {
    const parsed = ownedRecordSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Written whole or not at all: a reader never sees half a file, even if this process dies mid-write.
 * `exclusive`: only if no such file exists (two `local up` racing for one state file: one wins).
 */
export function writeJsonFile(path: string, value: unknown, exclusive = false): void {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, `${JSON.stringify(value, null, 2)}\n`);
  try {
    if (exclusive) linkSync(partial, path);
    else renameSync(partial, path);
  } finally {
    rmSync(partial, { force: true });
  }
}

/** This process as the owner of a stack, and the record kept current from `ownership` from now on. */
export function recordOwnership(files: StackFiles, ownership: Ownership): OwnedProcess {
  const self = identify(process.pid);
  if (!self) throw new ClickstreamError('cannot read this process in /proc or with ps');
  const owner: OwnedProcess = { role: 'local up', ...self };
  const record = (): OwnedRecord => ({ owner, ...ownership.snapshot() });
  try {
    writeJsonFile(files.owned, record(), true);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new ClickstreamError(
      `another \`clickstream local up\` is starting with ${files.state}`,
      'wait for it, or stop it with `clickstream local down`',
    );
  }
  ownership.onChange(() => writeJsonFile(files.owned, record()));
  return owner;
}

export interface StackLook {
  /** The `local up` process, while it runs. */
  owner?: OwnedProcess;
  /** Its children that still run. */
  processes: OwnedProcess[];
  /** Its temp directories that still exist. */
  directories: string[];
}

/** What of the recorded stack is still there; only processes proven to be the recorded ones count. */
export function lookAtStack(files: StackFiles): StackLook {
  const record = readOwnedRecord(files.owned);
  const state = readStateFile(files.state);
  const owner =
    record && isAlive(record.owner)
      ? record.owner
      : state && stackIsRunning(state)
        ? { role: 'local up', pid: state.pid, startTime: state.owner?.startTime ?? '', command: '' }
        : undefined;
  return {
    ...(owner ? { owner } : {}),
    processes: (record?.processes ?? []).filter((p) => isAlive(p)),
    directories: (record?.directories ?? []).filter((d) => existsSync(d)),
  };
}

/**
 * Stops what a stack that is no longer running left behind (children still running, its temp
 * directory) and removes its files. Returns one line per thing stopped or removed. A child that
 * cannot be stopped is refused with its PID, so the person can stop it.
 */
export async function clearLeftovers(files: StackFiles, look: StackLook): Promise<string[]> {
  const done: string[] = [];
  for (const leftover of look.processes) {
    try {
      if (await stopRecorded(leftover)) done.push(`stopped ${leftover.role}, pid ${leftover.pid}`);
    } catch (error) {
      throw new ClickstreamError(
        `pid ${leftover.pid} (${leftover.role}), left by an earlier stack, could not be stopped`,
        `stop it yourself (kill ${leftover.pid}), then try again`,
        { cause: error },
      );
    }
  }
  for (const directory of look.directories) {
    rmSync(directory, { recursive: true, force: true });
    done.push(`removed ${directory}`);
  }
  rmSync(files.state, { force: true });
  rmSync(files.owned, { force: true });
  return done;
}

/** Stops a running stack's `local up` process (it stops its children itself, in order). */
export async function stopOwner(owner: OwnedProcess): Promise<void> {
  if (!owner.command) {
    throw new ClickstreamError(
      `cannot prove that pid ${owner.pid} is the local stack (its state file has no process record)`,
      `stop it yourself if it is: kill ${owner.pid}`,
    );
  }
  try {
    // Up to 30 s: the consumers finish what they hold before the stack goes.
    await stopRecorded(owner, 30_000);
  } catch (error) {
    throw new ClickstreamError(`local stack pid ${owner.pid} did not stop`, `kill -9 ${owner.pid}`, {
      cause: error,
    });
  }
}
