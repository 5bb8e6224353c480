/**
 * What a process and everything it started use, for the demo's summary and the benchmarks: the peak
 * resident memory of each (how much memory a run of a given size needs: the CLI with the consumers,
 * the stack's process, the DynamoDB emulator) and the CPU time of each (whether a stage waited or
 * kept the machine's cores busy). Read from Linux's /proc; the tree is found by parentage from the
 * given process, so another stack's processes are never counted.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { procStat } from './processes.ts';

export interface ProcessPeak {
  pid: number;
  /** The program: its command's file name (for Node, the script it runs). */
  program: string;
  peakRssBytes: number;
}

export interface ProcessCpu {
  pid: number;
  program: string;
  /** User and kernel time of all the process's threads since it started. */
  cpuMs: number;
}

/**
 * /proc/PID/stat counts CPU time in USER_HZ ticks, which Linux fixes at 100 a second for every
 * program (the kernel's own tick rate may differ; what it reports to user space does not).
 */
const MS_PER_TICK = 10;

/** The process and its descendants, parents before children; undefined where there is no /proc. */
export function processTree(rootPid: number = process.pid): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const children = new Map<number, number[]>();
  for (const entry of entries) {
    const parent = procStat(Number(entry))?.parentPid;
    if (parent === undefined) continue;
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const tree: number[] = [];
  const visit = (pid: number) => {
    tree.push(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(rootPid);
  return tree;
}

/** The process and its descendants, each with its peak RSS; undefined where there is no /proc. */
export function processTreePeaks(rootPid: number = process.pid): ProcessPeak[] | undefined {
  return processTree(rootPid)?.flatMap((pid) => {
    const peak = peakOf(pid);
    return peak ? [peak] : [];
  });
}

/**
 * The process and its descendants, each with the CPU time it has used so far; undefined where there
 * is no /proc. Two readings apart give what each process spent between them.
 */
export function processTreeCpu(rootPid: number = process.pid): ProcessCpu[] | undefined {
  return processTree(rootPid)?.flatMap((pid) => {
    const stat = procStat(pid);
    const program = programOf(pid);
    if (!stat || program === undefined) return [];
    return [{ pid, program, cpuMs: stat.cpuTicks * MS_PER_TICK }];
  });
}

/**
 * The CPU time the tree spent between two readings, all processes together. A process that started
 * after the first reading counts from its start; one that ended before the second is not counted.
 */
export function cpuMsBetween(before: readonly ProcessCpu[], after: readonly ProcessCpu[]): number {
  const earlier = new Map(before.map((p) => [p.pid, p.cpuMs]));
  return after.reduce((sum, p) => sum + p.cpuMs - (earlier.get(p.pid) ?? 0), 0);
}

function peakOf(pid: number): ProcessPeak | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kilobytes = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    if (kilobytes === undefined) return undefined; // a zombie, or a kernel thread
    const program = programOf(pid);
    if (program === undefined) return undefined;
    return { pid, program, peakRssBytes: Number(kilobytes) * 1024 };
  } catch {
    return undefined;
  }
}

/**
 * `node --import …/loader.mjs path/to/script.ts {…}` → script.ts (the last script among the arguments:
 * loaders and preloads come first); anything else → its executable's name. Undefined when the process
 * is gone.
 */
function programOf(pid: number): string | undefined {
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
  const executable = basename(args[0] ?? '?');
  if (executable !== 'node') return executable;
  const scripts = args.slice(1).filter((arg) => /\.[cm]?[jt]s$/.test(arg) && !arg.startsWith('-'));
  const script = scripts[scripts.length - 1];
  return script ? basename(script) : executable;
}
