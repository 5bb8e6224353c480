import { expect, it } from 'vitest';
import { expectExactlyOnce, runScenario } from './scenario.ts';

it('handler-faults: invocations that throw or time out are retried, and late work of timed-out ones merges once', async () => {
  // The producer packs ~190 events into each Kinesis record, so the 4,000 events are ~25 records: small
  // batches give both consumers enough invocations for every kind of fault to be drawn.
  await runScenario({ profile: 'handler-faults', context: { batchSize: '10' } }, (result) => {
    expectExactlyOnce(result);
    const faults = result.context.pipeline.chaos?.faults;
    expect(faults?.thrown).toBeGreaterThan(0);
    expect(faults?.timedOut).toBeGreaterThan(0);
    const { aggregator, alerter } = result.context.pipeline;
    const functionErrors = aggregator.stats().functionErrors + alerter.stats().functionErrors;
    expect(functionErrors).toBeGreaterThanOrEqual((faults?.thrown ?? 0) + (faults?.timedOut ?? 0));
  });
});
