/**
 * How a smoke step reports: a progress line while it waits, then one PASS, FAIL or SKIPPED line. A
 * step that cannot pass in time fails with what it saw last; an AWS error fails it with the error's
 * one-line explanation and hint, never a stack trace.
 */
import { explainAwsError } from '../adapters/aws-errors.ts';
import { ClickstreamError } from '../core/errors.ts';

export const STEP_NAMES = [
  'resources',
  'replay',
  'totals',
  'alerts',
  'lake',
  'query',
  'metrics',
  'alarm-topics',
] as const;
export type StepName = (typeof STEP_NAMES)[number];
export type StepStatus = 'PASS' | 'FAIL' | 'SKIPPED';

export interface StepResult {
  step: StepName;
  status: StepStatus;
  detail: string;
  hint?: string;
  /** Wall time the step took (not part of its line: it differs from run to run). */
  ms: number;
}

/** What a step's probe returns: done (pass or fail) or not yet, with a progress note. */
export type Probe<T> = { done: true; value: T } | { done: false; progress: string };

export interface StepReporter {
  progress(step: StepName, message: string): void;
  result(result: StepResult): void;
}

export class StepFailure extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/**
 * Runs a step: `body` returns the PASS detail, throws StepFailure for a FAIL, or SkipStep for a
 * SKIPPED. Ctrl-C (the signal) is not a FAIL: it ends the run, after its cleanup.
 */
export async function runStep(
  step: StepName,
  reporter: StepReporter,
  signal: AbortSignal,
  body: () => Promise<string>,
): Promise<StepResult> {
  const started = performance.now();
  const finish = (status: StepStatus, detail: string, hint?: string): StepResult => {
    const result = {
      step,
      status,
      detail,
      ...(hint ? { hint } : {}),
      ms: Math.round(performance.now() - started),
    };
    reporter.result(result);
    return result;
  };
  try {
    return finish('PASS', await body());
  } catch (error) {
    if (signal.aborted) throw interrupted();
    if (error instanceof SkipStep) return finish('SKIPPED', error.message);
    if (error instanceof StepFailure || error instanceof ClickstreamError)
      return finish('FAIL', error.message, error.hint);
    const known = explainAwsError(error);
    if (known) return finish('FAIL', known.message, known.hint);
    return finish('FAIL', error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  }
}

export class SkipStep extends Error {}

export function interrupted(): ClickstreamError {
  return new ClickstreamError(
    'smoke interrupted',
    'what it created was removed; run it again to check the stack',
  );
}

/**
 * Calls `probe` until it is done or `deadlineMs` (epoch ms) passes, `intervalMs` apart, reporting
 * each progress note once. Past the deadline, fails with the last note.
 */
export async function pollUntil<T>(options: {
  step: StepName;
  reporter: StepReporter;
  signal: AbortSignal;
  deadlineMs: number;
  intervalMs: number;
  /** What the FAIL line says after the last progress note. */
  timeout: (lastProgress: string) => StepFailure;
  probe: () => Promise<Probe<T>>;
}): Promise<T> {
  let last = '';
  for (;;) {
    if (options.signal.aborted) throw interrupted();
    const outcome = await options.probe();
    if (outcome.done) return outcome.value;
    if (outcome.progress !== last) options.reporter.progress(options.step, outcome.progress);
    last = outcome.progress;
    if (Date.now() >= options.deadlineMs) throw options.timeout(last);
    await sleep(Math.min(options.intervalMs, Math.max(0, options.deadlineMs - Date.now())), options.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
