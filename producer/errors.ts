/** Expected failures of the replay producer: one line plus a hint, non-zero exit (see ClickstreamError). */
import { explainAwsError } from '../adapters/aws-errors.ts';
import { ClickstreamError } from '../core/errors.ts';

export class ProducerError extends ClickstreamError {
  override name = 'ProducerError';
}

/**
 * Turns an SDK error that no retry can fix (region, credentials, permissions, a missing stream, bucket
 * or object) into a ProducerError about `what`; returns undefined for anything else.
 */
export function fatalAwsError(error: unknown, what: string): ProducerError | undefined {
  const explained = explainAwsError(error, what);
  if (!explained || explained.retryable) return undefined;
  return new ProducerError(explained.message, explained.hint, { cause: error });
}
