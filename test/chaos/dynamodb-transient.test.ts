import { expect, it } from 'vitest';
import { expectExactlyOnce, runScenario } from './scenario.ts';

it('dynamodb-transient: merges failed before or after the write are retried, and each contribution counts once', async () => {
  await runScenario({ profile: 'dynamodb-transient' }, (result) => {
    expectExactlyOnce(result);
    const proxy = result.context.stack.chaos?.dynamodb;
    // Both kinds happened: a refused write, and a write that landed while the client saw an error.
    expect(proxy?.counters.failedBefore).toBeGreaterThan(0);
    expect(proxy?.counters.failedAfter).toBeGreaterThan(0);
  });
});
