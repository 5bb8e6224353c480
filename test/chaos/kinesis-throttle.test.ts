import { expect, it } from 'vitest';
import { expectExactlyOnce, runScenario } from './scenario.ts';

it('kinesis-throttle: throttled entries and 5xx calls are resent, and every event still counts exactly once', async () => {
  await runScenario({ profile: 'kinesis-throttle' }, (result) => {
    expectExactlyOnce(result);
    const proxy = result.context.stack.chaos?.kinesis;
    expect(proxy?.counters.failedEntries).toBeGreaterThan(0);
    expect(proxy?.counters.failedCalls).toBeGreaterThan(0);
    // The producer resent exactly what was refused: entries of failed calls and throttled entries.
    expect(result.replay.retried).toBeGreaterThan(0);
    expect(result.replay.throttled).toBeGreaterThan(0);
  });
});
