/**
 * A test double of the alert-dedupe table for tests that stub the DynamoDB client (the permissions
 * contract, the metrics test): enough of DynamoDB for the alerter's claims, incidents and watermark.
 */
import { ALERT_DEDUPE_KEY } from '../../core/dynamo-tables.ts';

const conditionFailed = () =>
  Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });

/**
 * The alert-dedupe table in memory, as far as the alerter's writes need it to run its incidents through:
 * claims and incident versions honour their conditions, and the few update expressions the alerter
 * sends take effect. The permissions check needs the calls; this only lets the scenario reach them all.
 */
export function fakeAlertDedupeTable() {
  // biome-ignore lint/suspicious/noExplicitAny: DynamoDB items as the document client passes them
  type Item = Record<string, any>;
  // biome-ignore lint/suspicious/noExplicitAny: command inputs as the document client passes them
  type Input = Record<string, any>;
  const items = new Map<string, Item>();
  const id = (key: Item) => String(key[ALERT_DEDUPE_KEY.partition]);
  const value = (input: Input, name: string) => input.ExpressionAttributeValues?.[name];
  return {
    items,
    put(input: Input) {
      const existing = items.get(id(input.Item));
      const condition = String(input.ConditionExpression ?? '');
      const allowed =
        !existing ||
        condition === '' ||
        (condition.includes(':sending') &&
          existing.status === 'sending' &&
          (existing.claimed_at < value(input, ':staleBefore') ||
            existing.claim_token === value(input, ':token'))) ||
        (condition === '#version = :expected' && existing.version === value(input, ':expected'));
      if (!allowed) throw conditionFailed();
      items.set(id(input.Item), structuredClone(input.Item));
      return {};
    },
    get(input: Input) {
      const item = items.get(id(input.Key));
      return item ? { Item: structuredClone(item) } : {};
    },
    update(input: Input) {
      const key = id(input.Key);
      const item = items.get(key) ?? { ...input.Key };
      const expression = String(input.UpdateExpression);
      if (expression.startsWith('SET #status = :sent')) {
        if (item.claim_token !== value(input, ':token')) throw conditionFailed();
        item.status = 'sent';
      } else if (expression === 'REMOVE #outbox.#step') {
        delete item.outbox?.[input.ExpressionAttributeNames['#step']];
      } else if (expression === 'ADD #entries :entry') {
        item.entries = new Set([...(item.entries ?? []), ...value(input, ':entry')]);
      } else if (expression === 'DELETE #entries :entry') {
        for (const entry of value(input, ':entry')) item.entries?.delete(entry);
      } else if (expression === 'SET #wm = :wm') {
        if (item.watermark_ms >= value(input, ':wm')) throw conditionFailed();
        item.watermark_ms = value(input, ':wm');
      } else throw new Error(`the fake alert-dedupe table does not know ${expression}`);
      items.set(key, item);
      return { Attributes: structuredClone(item) };
    },
    /** A document client's `send` for the table's commands (by class name), for plain fake clients. */
    send(command: { constructor: { name: string }; input: Input }) {
      switch (command.constructor.name) {
        case 'PutCommand':
          return this.put(command.input);
        case 'GetCommand':
          return this.get(command.input);
        case 'UpdateCommand':
          return this.update(command.input);
        case 'DeleteCommand':
          return this.delete(command.input);
        default:
          throw new Error(`the fake alert-dedupe table does not take ${command.constructor.name}`);
      }
    },
    delete(input: Input) {
      const item = items.get(id(input.Key));
      if (item && input.ConditionExpression && item.claim_token !== value(input, ':token'))
        throw conditionFailed();
      items.delete(id(input.Key));
      return {};
    },
  };
}
