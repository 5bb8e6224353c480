/**
 * Tumbling windows per shard, aligned on ApproximateArrivalTimestamp: the state carried from one
 * invocation to the next (serialized, as JSON), the final invocation at the window end, retried until
 * it succeeds (Lambda "pauses further processing until a successful invocation"), and the early end of
 * a window whose state outgrows 1 MB (`isWindowTerminatedEarly`, then the same window with a fresh state).
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html
 */
import { LAMBDA_STATE_LIMIT_BYTES } from '../../core/window.ts';
import { saveCheckpoints } from './checkpoints.ts';
import { buildEvent, invoke } from './invoker.ts';
import type { RunnerState } from './runner-state.ts';
import type { ShardCursor } from './shard-cursor.ts';

export function windowOf(run: RunnerState, arrivalMs: number): { startMs: number; endMs: number } {
  const { windowMs } = run.config;
  const startMs = Math.floor(arrivalMs / windowMs) * windowMs;
  return { startMs, endMs: startMs + windowMs };
}

/** Keeps the state an invocation returned; true when it is over the limit and the window must end early. */
export function commitState(run: RunnerState, cursor: ShardCursor, state: unknown): boolean {
  if (run.config.windowMs === 0 || !cursor.window) return false;
  const json = JSON.stringify(state ?? {});
  const bytes = Buffer.byteLength(json);
  if (bytes > run.counters.maxStateBytes) run.counters.maxStateBytes = bytes;
  cursor.window.stateJson = json;
  return bytes > LAMBDA_STATE_LIMIT_BYTES;
}

/** The window's last invocation; retried until it succeeds, as Lambda pauses the shard until then. */
export async function finalInvoke(run: RunnerState, cursor: ShardCursor, early: boolean): Promise<void> {
  const window = cursor.window;
  if (!window) return;
  if (early) run.counters.windowsTerminatedEarly++;
  for (let attempt = 0; !run.stopped; attempt++) {
    const result = await invoke(run, cursor, buildEvent(run, cursor, [], { early }), attempt);
    if (result.ok) break;
    run.counters.retries++;
    await run.sleep(Math.min(run.config.retryDelayMs * 2 ** attempt, 1000));
  }
  if (run.stopped) return;
  if (early) window.stateJson = '{}';
  else cursor.window = undefined;
  await saveCheckpoints(run);
}

/**
 * Ends the open window with its final invocation once it is over (true: the shard should look again),
 * or opens the window of the first buffered record when none is open.
 */
export async function closeOrOpenWindow(
  run: RunnerState,
  cursor: ShardCursor,
  now: number,
): Promise<boolean> {
  if (run.config.windowMs === 0) return false;
  const first = cursor.buffer[0];
  // Close the open window once no record of it can still come: a later record is here, or the
  // clock passed its end and a poll started after the end found the shard read to its end.
  const window = cursor.window;
  if (window) {
    const laterRecordHere = first !== undefined && first.arrivalMs >= window.endMs;
    const ended = now >= window.endMs && cursor.caughtUpPollStartedMs >= window.endMs && !first;
    const drained = run.draining && cursor.caughtUp && !first;
    if (laterRecordHere || ended || drained) {
      await finalInvoke(run, cursor, false);
      return true;
    }
  }
  if (first && !cursor.window) {
    const { startMs, endMs } = windowOf(run, first.arrivalMs);
    cursor.window = { startMs, endMs, stateJson: '{}' };
  }
  return false;
}
