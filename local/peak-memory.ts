/**
 * Peak resident memory of a process and everything it started, for the demo's summary: how much
 * memory a run of a given size needs, per process (the CLI with the consumers, the stack's process,
 * the DynamoDB emulator). Read from Linux's /proc (VmHWM, the resident set's high-water mark); the
 * tree is found by parentage from the given process, so another stack's processes are never counted.
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

/** The process and its descendants, each with its peak RSS; undefined where there is no /proc. */
export function processTreePeaks(rootPid: number = process.pid): ProcessPeak[] | undefined {
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
  const peaks: ProcessPeak[] = [];
  const visit = (pid: number) => {
    const peak = peakOf(pid);
    if (peak) peaks.push(peak);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(rootPid);
  return peaks;
}

function peakOf(pid: number): ProcessPeak | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kilobytes = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    if (kilobytes === undefined) return undefined; // a zombie, or a kernel thread
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return { pid, program: programOf(args), peakRssBytes: Number(kilobytes) * 1024 };
  } catch {
    return undefined;
  }
}

/**
 * `node --import …/loader.mjs path/to/script.ts {…}` → script.ts (the last script among the arguments:
 * loaders and preloads come first); anything else → its executable's name.
 */
function programOf(args: string[]): string {
  const executable = basename(args[0] ?? '?');
  if (executable !== 'node') return executable;
  const scripts = args.slice(1).filter((arg) => /\.[cm]?[jt]s$/.test(arg) && !arg.startsWith('-'));
  const script = scripts[scripts.length - 1];
  return script ? basename(script) : executable;
}
