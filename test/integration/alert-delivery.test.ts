/**
 * One alert email claimed by two attempts at once, through DynamoDB (dynalite): the second waits for
 * the first instead of failing its records at once, so the event source's few back-to-back retries are
 * not spent (and the batch discarded) while the first is still publishing.
 */
import type { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDelivery } from '../../consumers/bot-alerter/delivery.ts';
import { silentLogger } from '../../consumers/logger.ts';
import type { AlertMessage } from '../../core/alert-message.ts';
import { startDynamo } from '../support/consumers-emulators.ts';

const names = { userActivityTable: 'ua-delivery', alertDedupeTable: 'ad-delivery' };
let dynamo: DynamoDBDocumentClient;
let stop: () => Promise<void>;

beforeAll(async () => {
  ({ dynamo, stop } = await startDynamo(names));
}, 60_000);
afterAll(async () => stop?.());

/** An SNS client whose Publish calls wait until released, and fail when told to. */
function gatedSns() {
  const subjects: string[] = [];
  let publishing = 0;
  let release: (outcome: 'ok' | 'fail') => void = () => undefined;
  let gate = new Promise<'ok' | 'fail'>((resolve) => {
    release = resolve;
  });
  const sns = {
    async send(command: { input: { Subject?: string } }) {
      publishing++;
      const outcome = await gate;
      if (outcome === 'fail') {
        // Later calls go through at once.
        gate = Promise.resolve('ok');
        throw Object.assign(new Error('internal error'), { name: 'InternalErrorException' });
      }
      subjects.push(command.input.Subject ?? '');
      return { MessageId: `m-${subjects.length}` };
    },
  } as unknown as SNSClient;
  return {
    sns,
    subjects,
    get publishing() {
      return publishing;
    },
    release: (outcome: 'ok' | 'fail') => release(outcome),
  };
}

const message: AlertMessage = {
  subject: 'Bot activity: user 900000021',
  body: 'body',
  attributes: { incident_id: 'i-1', step: 'open', rule: 'r', severity: 'high', user_id: '900000021' },
};

function deliveryOver(sns: SNSClient) {
  return createDelivery({
    dynamo,
    sns,
    alertDedupeTable: names.alertDedupeTable,
    topicArn: 'arn:aws:sns:us-east-1:000000000000:alerts',
    ttlSeconds: 3600,
    leaseMs: 120_000,
    logger: silentLogger,
    now: Date.now,
  });
}

async function untilPublishing(gated: { publishing: number }, count: number) {
  while (gated.publishing < count) await new Promise((resolve) => setTimeout(resolve, 5));
}

it('an attempt finding the email claimed by a live one waits for it, and counts it as already sent', async () => {
  const gated = gatedSns();
  const deliver = deliveryOver(gated.sns);
  const first = deliver('c-1#open', message);
  await untilPublishing(gated, 1);
  const second = deliver('c-1#open', message);
  // The second polls the claim while the first is still publishing; then the first finishes.
  await new Promise((resolve) => setTimeout(resolve, 300));
  gated.release('ok');
  expect(await Promise.all([first, second])).toEqual(['sent', 'already-sent']);
  expect(gated.subjects).toEqual([message.subject]);
});

it('a close pass that only sweeps up does not wait: it reports the email claimed elsewhere', async () => {
  const gated = gatedSns();
  const deliver = deliveryOver(gated.sns);
  const first = deliver('c-2#open', message);
  await untilPublishing(gated, 1);
  expect(await deliver('c-2#open', message, { wait: false })).toBe('claimed-elsewhere');
  gated.release('ok');
  expect(await first).toBe('sent');
  expect(gated.subjects).toEqual([message.subject]);
});

it('when the holder cannot publish and lets the claim go, the waiting attempt sends the email once', async () => {
  const gated = gatedSns();
  const deliver = deliveryOver(gated.sns);
  const first = deliver('c-3#open', message);
  await untilPublishing(gated, 1);
  const second = deliver('c-3#open', message);
  await new Promise((resolve) => setTimeout(resolve, 300));
  gated.release('fail');
  await expect(first).rejects.toThrow('internal error');
  expect(await second).toBe('sent');
  expect(gated.subjects).toEqual([message.subject]);
});
