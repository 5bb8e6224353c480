/**
 * What a part's entry function (generate, replay, redrive, query, report, verify, smoke) is given by
 * whoever runs it, the CLI, the demo or a test: where AWS calls go, where to say how the work goes, and
 * when to stop. The CLI's CommandContext is one (it adds --json and colours, which stay in cli/); a test
 * or another program passes its own. Nothing here writes anywhere: the caller decides where text goes.
 */
import type { AwsTarget } from './target.ts';

export interface Progress {
  /** Set current value (and optional named payload values shown in the bar). */
  update(value: number, payload?: Record<string, string | number>): void;
  setTotal(total: number): void;
  stop(): void;
}

export interface RunContext {
  /** A line for people about the work (the CLI drops it under --json). */
  info(message: string): void;
  /** A line about something that needs attention (the CLI shows it even under --json). */
  warn(message: string): void;
  /** A line for whoever looks closely (the CLI shows it with --verbose). */
  debug(message: string): void;
  /** The progress of one stage; `fields` are payload names shown after the counter. */
  progress(label: string, options?: { total?: number; unit?: string; fields?: string[] }): Progress;
  /** Aborted to stop (Ctrl-C in the CLI): long work stops cleanly and still returns its summary. */
  signal: AbortSignal;
  /**
   * Where AWS calls go, resolved on first use. Work that never touches AWS (e.g. generate to a file)
   * simply never calls it.
   */
  target(): Promise<AwsTarget>;
}
