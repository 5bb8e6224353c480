/**
 * What a smoke run takes (`clickstream smoke`'s flags) and their defaults, apart from run.ts so that the
 * checks, which read the waits from them, and the run, which calls the checks, do not import each other.
 */
import type { PipelineTiming } from './deployed-stack.ts';

export interface SmokeOptions {
  /** CloudFormation stack name (AWS only). */
  stack?: string;
  events?: string | number;
  bots?: string | number;
  seed?: string | number;
  /** Event time of the first event; default: the current minute, so every run has windows of its own. */
  start?: string;
  /** Seconds added to every wait, for a slow first invocation or a busy account. */
  extraWait?: string | number;
  /** Caps every wait after the replay, in seconds (0: look once); default: what the stack's settings need. */
  maxWait?: string | number;
  /** Longest wait for the custom metrics, in seconds (ListMetrics lags new metrics by up to 15 minutes). */
  metricsTimeout?: string | number;
  /** Locally: the timing the running stack was built with (the CDK defaults otherwise). */
  timing?: Partial<PipelineTiming>;
}

export const SMOKE_DEFAULTS = {
  stack: 'Clickstream',
  events: 2400,
  bots: 4,
  extraWait: 0,
  metricsTimeout: 900,
} as const;
