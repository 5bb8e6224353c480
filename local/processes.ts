/**
 * What a local stack owns outside its own process (child processes, a temp directory), kept so that a
 * later `local up`, `status` or `down` finds it again after the stack died without stopping (kill -9,
 * a crash, a closed terminal). A PID alone proves nothing once its process has gone, because the
 * kernel hands it out again; so each process is recorded with its start time and command line, and is
 * only ever signalled while both still match. Nothing here looks a process up by name: two stacks on
 * one machine only ever see what they recorded themselves.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessIdentity {
  pid: number;
  /** Linux: start time in clock ticks since boot (/proc/PID/stat field 22); elsewhere `ps -o lstart`. */
  startTime: string;
  command: string;
}

export interface OwnedProcess extends ProcessIdentity {
  /** What the process is, for people: e.g. "dynamodb emulator (dynoxide)". */
  role: string;
}

const HAS_PROC = existsSync('/proc/self/stat');

/** What Linux's /proc/PID/stat says of a process; undefined when there is no such process (or no /proc). */
export function procStat(
  pid: number,
): { state: string; parentPid: number; startTime: string; cpuTicks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2, the name in parentheses, may itself hold spaces and ')': count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      state: fields[0] ?? '',
      parentPid: Number(fields[1]),
      startTime: fields[19] ?? '',
      // utime + stime (fields 14 and 15), in clock ticks: every thread of the process, user and kernel.
      cpuTicks: Number(fields[11]) + Number(fields[12]),
    };
  } catch {
    return undefined;
  }
}

/** A zombie (Z) or a dead task (X) has exited; only its parent's wait is left. */
const hasExited = (state: string) => state === 'Z' || state === 'X';

/** Who runs under `pid` now; undefined when nothing does, or only a zombie (it has exited already). */
export function identify(pid: number): ProcessIdentity | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    if (HAS_PROC) {
      const stat = procStat(pid);
      if (!stat || hasExited(stat.state) || !stat.startTime) return undefined;
      const { startTime } = stat;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      // An empty command line is a process already exiting (its memory, and so its arguments, are gone
      // before it turns zombie) or a kernel thread: neither is one a stack started.
      if (!command) return undefined;
      return { pid, startTime, command };
    }
    // macOS and the BSDs: ps looks the process up by its PID.
    const line = execFileSync('ps', ['-o', 'stat=', '-o', 'lstart=', '-o', 'command=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const match = /^(\S+)\s+(\w{3}\s+\w{3}\s+\d+\s+[\d:]+\s+\d{4})\s+(.*)$/.exec(line);
    if (!match?.[1] || match[1].startsWith('Z') || !match[2] || match[3] === undefined) return undefined;
    return { pid, startTime: match[2], command: match[3] };
  } catch {
    return undefined;
  }
}

/** True while the very process that was recorded (same PID, start time and command line) still runs. */
export function isAlive(recorded: ProcessIdentity): boolean {
  const now = identify(recorded.pid);
  return now !== undefined && now.startTime === recorded.startTime && now.command === recorded.command;
}

export class ProcessStopError extends Error {
  override name = 'ProcessStopError';
}

/**
 * Stops a recorded process: SIGTERM, then SIGKILL after `graceMs`. Resolves false, signalling nothing,
 * when the recorded process is no longer there (its PID may belong to someone else by now).
 */
export async function stopRecorded(recorded: ProcessIdentity, graceMs = 5_000): Promise<boolean> {
  if (!isAlive(recorded)) return false;
  for (const [signal, waitMs] of [
    ['SIGTERM', graceMs],
    ['SIGKILL', 2_000],
  ] as const) {
    if (!isAlive(recorded)) return true;
    try {
      process.kill(recorded.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
      throw new ProcessStopError(`cannot stop pid ${recorded.pid} (${recorded.command}): ${String(error)}`, {
        cause: error,
      });
    }
    for (let waited = 0; waited < waitMs && isAlive(recorded); waited += 50) await sleep(50);
  }
  if (isAlive(recorded)) throw new ProcessStopError(`pid ${recorded.pid} (${recorded.command}) did not stop`);
  return true;
}

/**
 * The record of what one stack owns, kept current as emulators start, restart and stop; whoever
 * started the stack persists it on every change (`onChange`).
 */
export class Ownership {
  private readonly processes = new Map<number, OwnedProcess>();
  private readonly directories = new Set<string>();
  private readonly listeners = new Set<() => void>();

  /** Records a child by PID; a child that has already gone is not recorded. */
  addProcess(role: string, pid: number | undefined): void {
    const identity = pid === undefined ? undefined : identify(pid);
    if (!identity) return;
    this.processes.set(identity.pid, { role, ...identity });
    this.changed();
  }

  removeProcess(pid: number | undefined): void {
    if (pid !== undefined && this.processes.delete(pid)) this.changed();
  }

  addDirectory(path: string): void {
    this.directories.add(path);
    this.changed();
  }

  removeDirectory(path: string): void {
    if (this.directories.delete(path)) this.changed();
  }

  snapshot(): { processes: OwnedProcess[]; directories: string[] } {
    return { processes: [...this.processes.values()], directories: [...this.directories] };
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/** A binary started by `spawnTethered`. */
export interface TetheredChild {
  /** The binary's PID (the tether shell has its own). */
  pid: number;
  /** Everything the binary wrote on stderr so far. */
  stderr(): string;
  /** True while the binary runs (a zombie does not count). */
  running(): boolean;
  /** Signals the binary, then releases the tether and waits for both to exit. */
  stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

/**
 * Node has no parent-death signal (Linux's prctl PR_SET_PDEATHSIG is out of reach), and a third-party
 * binary cannot be told to watch us. So a small shell stands between: it starts the binary, then blocks
 * reading its stdin, a pipe from this process. The kernel closes that pipe when this process exits for
 * any reason, kill -9 included; the read returns and the shell stops the binary. Shell and binary get a
 * process group of their own, so a Ctrl-C in the terminal reaches this process only, which then stops
 * them in order instead of the binary dying under requests still in flight.
 */
const TETHER = [
  '"$0" "$@" </dev/null >/dev/null &',
  'child=$!',
  'echo "$child"',
  'while read -r _; do :; done',
  'kill -TERM "$child" 2>/dev/null',
  'wait "$child"',
].join('\n');

export async function spawnTethered(
  binary: string,
  args: string[],
  owned?: { ownership: Ownership; role: string },
): Promise<TetheredChild> {
  const tether: ChildProcess = spawn('/bin/sh', ['-c', TETHER, binary, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  tether.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => tether.once('exit', () => resolve()));
  // An error on the pipe (the shell already gone) must not become an unhandled 'error' event.
  tether.stdin?.on('error', () => undefined);
  const pid = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: tether.stdout as NodeJS.ReadableStream });
    lines.once('line', (line) => {
      lines.close();
      resolve(Number(line));
    });
    tether.once('error', reject);
    void exited.then(() => reject(new Error(`could not start ${binary}: ${stderr.trim() || 'no output'}`)));
  });
  const binaryIdentity = await execed(pid, binary);
  owned?.ownership.addProcess(`tether of ${owned.role}`, tether.pid);
  owned?.ownership.addProcess(owned.role, pid);
  let stopping: Promise<void> | undefined;
  return {
    pid,
    stderr: () => stderr,
    running: () => binaryIdentity !== undefined && isAlive(binaryIdentity),
    stop(signal) {
      stopping ??= (async () => {
        if (binaryIdentity && isAlive(binaryIdentity)) process.kill(pid, signal);
        // End of stdin: the shell stops the binary if it still runs, reaps it, and exits.
        tether.stdin?.end();
        const timer = setTimeout(() => {
          // A binary that ignores SIGTERM: the group holds only the shell and the binary.
          try {
            if (tether.pid !== undefined) process.kill(-tether.pid, 'SIGKILL');
          } catch {
            // Gone meanwhile.
          }
        }, 5_000);
        await exited;
        clearTimeout(timer);
        owned?.ownership.removeProcess(pid);
        owned?.ownership.removeProcess(tether.pid);
      })();
      return stopping;
    },
  };
}

/**
 * The shell prints the PID right after it forks, possibly before the fork has become the binary:
 * until then /proc shows the shell's command line, which is not the one to record.
 */
async function execed(pid: number, binary: string): Promise<ProcessIdentity | undefined> {
  for (let waited = 0; waited < 5_000; waited += 10) {
    const identity = identify(pid);
    if (identity?.command.startsWith(binary)) return identity;
    // In the middle of execve the new image has no arguments yet, so its command line reads empty and
    // `identify` says undefined although the process lives on: only a process that is gone ends the wait.
    if (!identity && !exists(pid)) return undefined;
    await sleep(10);
  }
  return identify(pid);
}

/** True while `pid` is a process that has not exited (a zombie has). */
function exists(pid: number): boolean {
  if (!HAS_PROC) return identify(pid) !== undefined;
  const stat = procStat(pid);
  return stat !== undefined && !hasExited(stat.state);
}
