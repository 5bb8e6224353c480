import { expect, it } from 'vitest';
import { expectExactlyOnce, runScenario } from './scenario.ts';

it('dynamodb-transient: merges and alert claims failed before or after the write are retried; each contribution counts once, each incident email mails once', async () => {
  await runScenario({ profile: 'dynamodb-transient' }, (result) => {
    expectExactlyOnce(result);
    const counters = result.context.stack.chaos?.dynamodb?.counters;
    // Both kinds happened to both writes: a refused write, and one that landed while the client saw an error.
    for (const rule of ['merge', 'alert-claim']) {
      expect(counters?.[rule]?.failedBefore, rule).toBeGreaterThan(0);
      expect(counters?.[rule]?.failedAfter, rule).toBeGreaterThan(0);
    }
  });
});
