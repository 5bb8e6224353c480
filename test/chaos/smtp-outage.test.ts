import { expect, it } from 'vitest';
import { incidentMail } from '../support/alert-mail.ts';
import { expectExactlyOnce, runScenario } from './scenario.ts';

it('smtp-outage: incident mails raised while the mail host is down are delivered once it is back, each once', async () => {
  let queuedDuringOutage = 0;
  await runScenario(
    {
      profile: 'smtp-outage',
      during: async ({ stack }) => {
        await stack.chaos?.smtp?.begin();
      },
      beforeDrain: async ({ stack, pipeline }) => {
        await pipeline.aggregator.drain();
        await pipeline.alerter.drain();
        const stats = await stack.sns.stats();
        queuedDuringOutage = stats.pending;
        expect(stats.retried).toBeGreaterThan(0);
        expect(stats.delivered).toBe(0);
        expect(stack.mailbox?.messages.length).toBe(0);
        await stack.chaos?.smtp?.end();
      },
    },
    (result) => {
      expectExactlyOnce(result);
      expect(queuedDuringOutage).toBeGreaterThan(0);
      // What the outage held back went out once it ended; the closing summaries came at the drain, after.
      const opened = result.mails.filter((mail) => incidentMail(mail).step !== 'close');
      expect(opened.length).toBe(queuedDuringOutage);
    },
  );
});
