/**
 * Whether a Kinesis endpoint answers: `local status` asks the running stack. A module of its own so the
 * command loads the SDK only when there is a stack to ask, and loads it through the client factory (one
 * copy of the SDK in the built CLI, whose commands and clients must come from the same copy).
 */
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { createKinesisClient } from './clients.ts';

/** Undefined when the endpoint answered ListStreams; else the error it gave. */
export async function kinesisAnswers(endpoint: string): Promise<unknown> {
  const kinesis = createKinesisClient({ endpoint });
  try {
    await kinesis.send(new ListStreamsCommand({}));
    return undefined;
  } catch (error) {
    return error;
  } finally {
    kinesis.destroy();
  }
}
