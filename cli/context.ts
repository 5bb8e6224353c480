/**
 * The command context: human output and progress on stderr when interactive, exactly one JSON object
 * on stdout with --json, Ctrl-C as an AbortSignal, and a lazily resolved AWS target.
 */
import cliProgress from 'cli-progress';
import { escapeControl, printable } from '../core/terminal-text.ts';
import { type Colours, coloursFor } from './colours.ts';
import type { AwsTarget, CommandContext, Progress } from './command.ts';
import { type ResolvedSettings, targetFromSettings } from './config.ts';

/** `--progress`: a bar on a terminal (auto), JSON lines on stderr whatever it is (json), or nothing. */
export type ProgressMode = 'auto' | 'json' | 'none';

export interface ContextOptions {
  json: boolean;
  verbose: boolean;
  progress?: ProgressMode;
  settings: () => ResolvedSettings;
  signal: AbortSignal;
  stderr?: NodeJS.WriteStream;
  /** A target supplied by the caller (the demo's in-process stack); skips settings resolution. */
  target?: AwsTarget;
}

export function createContext(options: ContextOptions): CommandContext {
  const stderr = options.stderr ?? process.stderr;
  const interactive = !options.json && !!stderr.isTTY && process.env.CI !== 'true';
  const colours = coloursFor(stderr);
  let target: AwsTarget | undefined = options.target;
  return {
    json: options.json,
    interactive,
    colours,
    signal: options.signal,
    info: (message) => {
      if (!options.json) stderr.write(`${printable(message, colours.isColorSupported)}\n`);
    },
    warn: (message) =>
      stderr.write(`${colours.yellow('warning:')} ${printable(message, colours.isColorSupported)}\n`),
    debug: (message) => {
      if (options.verbose) stderr.write(`${colours.dim(printable(message, colours.isColorSupported))}\n`);
    },
    progress: (label, progressOptions = {}) => {
      if (options.progress === 'json') return progressLines(stderr, label, progressOptions);
      return interactive && options.progress !== 'none'
        ? progressBar(stderr, label, progressOptions, colours)
        : NO_PROGRESS;
    },
    target: async () => {
      target ??= targetFromSettings(options.settings());
      return target;
    },
  };
}

const NO_PROGRESS: Progress = { update: () => undefined, setTotal: () => undefined, stop: () => undefined };

/** Least time between two progress lines of one label: a log, not an animation. */
const PROGRESS_LINE_INTERVAL_MS = 1_000;

/**
 * Progress as JSON lines on stderr, for runs that a program watches (`--json --progress json`): one
 * line when it starts, at most one a second while it moves, and one with `"done": true` at the end.
 */
function progressLines(
  stream: NodeJS.WritableStream,
  label: string,
  options: { total?: number; unit?: string },
): Progress {
  let state: Record<string, string | number> = {
    value: 0,
    ...(options.total ? { total: options.total } : {}),
  };
  let lastWrittenMs = 0;
  let stopped = false;
  const write = (extra: object = {}) => {
    lastWrittenMs = Date.now();
    const unit = options.unit ? { unit: options.unit } : {};
    stream.write(
      `${JSON.stringify({ progress: label, ...unit, ...state, ...extra, at: new Date().toISOString() })}\n`,
    );
  };
  write();
  return {
    update: (value, payload = {}) => {
      state = { ...state, ...payload, value };
      if (!stopped && Date.now() - lastWrittenMs >= PROGRESS_LINE_INTERVAL_MS) write();
    },
    setTotal: (total) => {
      state = { ...state, total };
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      write({ done: true });
    },
  };
}

function progressBar(
  stream: NodeJS.WriteStream,
  label: string,
  options: { total?: number; unit?: string; fields?: string[] },
  colours: Colours,
): Progress {
  const fields = (options.fields ?? []).map((name) => `${name} {${name}}`).join(' | ');
  const unit = options.unit ? ` ${options.unit}` : '';
  const counter = options.total ? '[{bar}] {percentage}% | {value}/{total}' : '{value}';
  const bar = new cliProgress.SingleBar(
    {
      format: `${colours.cyan(label)} ${counter}${unit}${fields ? ` | ${fields}` : ''}${options.total ? ' | ETA {eta_formatted}' : ''}`,
      stream,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const blank = Object.fromEntries((options.fields ?? []).map((name) => [name, '-']));
  bar.start(options.total ?? 0, 0, blank);
  return {
    update: (value, payload) => bar.update(value, payload),
    setTotal: (total) => bar.setTotal(total),
    stop: () => bar.stop(),
  };
}

/** Default human rendering: aligned key/value lines, nested objects flattened with dots. */
export function renderSummary(summary: object, colours: Colours): string {
  const lines: Array<[string, string]> = [];
  const walk = (value: unknown, prefix: string) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, prefix ? `${prefix}.${key}` : key);
    } else {
      lines.push([
        escapeControl(prefix),
        Array.isArray(value) ? escapeControl(value.join(', ')) : formatValue(value),
      ]);
    }
  };
  walk(summary, '');
  const width = Math.max(0, ...lines.map(([key]) => key.length));
  return lines.map(([key, value]) => `${colours.dim(key.padEnd(width))}  ${value}`).join('\n');
}

function formatValue(value: unknown): string {
  if (typeof value === 'number')
    return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(2);
  return escapeControl(String(value));
}
