/** Expected failures of the replay producer: one line plus a hint, non-zero exit (see ClickstreamError). */
import { ClickstreamError } from '../core/errors.ts';

export class ProducerError extends ClickstreamError {
  override name = 'ProducerError';
}

const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'ExpiredTokenException',
  'ExpiredToken',
  'InvalidClientTokenId',
]);

/**
 * Turns an SDK error that no retry can fix (credentials, permissions, missing stream) into a
 * ProducerError; returns undefined for anything else.
 */
export function fatalAwsError(error: unknown, what: string): ProducerError | undefined {
  if (!(error instanceof Error)) return undefined;
  if (CREDENTIAL_ERRORS.has(error.name) || /credential/i.test(error.message)) {
    return new ProducerError(
      `no usable AWS credentials for ${what}: ${error.message}`,
      'configure the standard AWS credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO login) or use --local',
      { cause: error },
    );
  }
  if (error.name === 'AccessDeniedException' || error.name === 'AccessDenied') {
    return new ProducerError(
      `access denied to ${what}: ${error.message}`,
      'check the IAM permissions of the caller',
      {
        cause: error,
      },
    );
  }
  if (error.name === 'ResourceNotFoundException') {
    return new ProducerError(
      `${what} not found`,
      'deploy the stack (npx cdk deploy) or start the local one (clickstream local up), and check --region',
      { cause: error },
    );
  }
  return undefined;
}
