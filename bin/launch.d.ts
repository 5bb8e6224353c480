// Types of bin/launch.js, which stays plain JavaScript because it runs before anything is built.
import type { ChildProcess } from 'node:child_process';

export function needsLegacyProvider(args: string[], execArgv?: string[], env?: NodeJS.ProcessEnv): boolean;
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number;
export function relaunchWithLegacyProvider(nodeArgs: string[]): ChildProcess;
export function stopWithParent(): void;
export function builtIsFresh(root: string): boolean;
