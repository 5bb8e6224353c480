/**
 * One invocation of the function: the event Lambda builds for a batch (or a window's final call), the
 * function timeout, and what the response means.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
 */
import type { KinesisWindowEvent } from '../../consumers/kinesis-event.ts';
import type { RunnerState } from './runner-state.ts';
import { LambdaRunnerError } from './settings.ts';
import type { BufferedRecord, ShardCursor } from './shard-cursor.ts';

export type InvokeResult = { ok: true; state: unknown; failures: string[] } | { ok: false; error: string };

/** The event for `records`; with a tumbling window, its bounds and state, and whether it is the final call. */
export function buildEvent(
  run: RunnerState,
  cursor: ShardCursor,
  records: BufferedRecord[],
  final: { early: boolean } | undefined,
) {
  const event: KinesisWindowEvent<unknown> = { Records: records.map((buffered) => buffered.record) };
  if (run.config.windowMs > 0 && cursor.window) {
    event.window = { start: isoSeconds(cursor.window.startMs), end: isoSeconds(cursor.window.endMs) };
    event.state = JSON.parse(cursor.window.stateJson);
    event.shardId = cursor.shardId;
    event.eventSourceARN = run.source.streamArn;
    event.isFinalInvokeForWindow = final !== undefined;
    event.isWindowTerminatedEarly = final?.early ?? false;
  }
  return event;
}

export async function invoke(
  run: RunnerState,
  cursor: ShardCursor,
  event: KinesisWindowEvent<unknown>,
  attempt: number,
): Promise<InvokeResult> {
  const { options, counters } = run;
  const n = ++run.invocationCount;
  counters.invocations++;
  const startedMs = Date.now();
  cursor.invokingSinceMs = startedMs;
  if (event.isFinalInvokeForWindow) counters.finalInvocations++;
  run.config.logger.debug('invoke', {
    n,
    shardId: cursor.shardId,
    records: event.Records.length,
    firstSequenceNumber: event.Records[0]?.kinesis.sequenceNumber,
    attempt,
    ...(event.window ? { window: event.window, final: event.isFinalInvokeForWindow } : {}),
  });
  try {
    const running = (async () => {
      await options.hooks?.beforeInvoke?.(n, event);
      return options.handler(event);
    })();
    const response = options.functionTimeoutMs
      ? await withTimeout(running, options.functionTimeoutMs)
      : await running;
    const result = interpretResponse(run, event, response ?? undefined);
    if (result.ok) {
      run.lastProgressMs = Date.now();
      cursor.lastError = undefined;
    } else cursor.lastError = result.error;
    return result;
  } catch (error) {
    counters.functionErrors++;
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    run.config.logger.debug('invoke failed', { n, shardId: cursor.shardId, error: message });
    cursor.lastError = message;
    return { ok: false, error: message };
  } finally {
    cursor.invokingSinceMs = undefined;
    const ranMs = Date.now() - startedMs;
    if (ranMs > counters.longestInvocationMs) counters.longestInvocationMs = ranMs;
    if (options.deployedTimeoutMs !== undefined && ranMs > options.deployedTimeoutMs)
      counters.invocationsPastTimeout++;
  }
}

function interpretResponse(
  run: RunnerState,
  event: KinesisWindowEvent<unknown>,
  response: unknown,
): InvokeResult {
  const { counters } = run;
  const body = (typeof response === 'object' && response !== null ? response : {}) as {
    state?: unknown;
    batchItemFailures?: unknown;
  };
  if (run.config.windowMs > 0 && (typeof body.state !== 'object' || body.state === null)) {
    counters.functionErrors++;
    return { ok: false, error: 'response has no state (required with tumbling windows)' };
  }
  if (!run.options.reportBatchItemFailures || body.batchItemFailures == null)
    return { ok: true, state: body.state, failures: [] };
  if (!Array.isArray(body.batchItemFailures)) {
    counters.functionErrors++;
    return { ok: false, error: 'batchItemFailures is not a list' };
  }
  const known = new Set(event.Records.map((record) => record.kinesis.sequenceNumber));
  const failures: string[] = [];
  for (const failure of body.batchItemFailures as unknown[]) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !known.has(id)) {
      counters.functionErrors++;
      return { ok: false, error: `invalid itemIdentifier ${JSON.stringify(id)}: the whole batch fails` };
    }
    failures.push(id);
  }
  return { ok: true, state: body.state, failures };
}

function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new LambdaRunnerError(`Task timed out after ${(ms / 1000).toFixed(2)} seconds`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
