/**
 * The one reading of AWS setup failures (no region, no or rejected credentials, an expired session,
 * access denied, a missing stream, bucket or table, an endpoint out of reach) as one line and a hint.
 * It matches error names and codes as the SDK sets them, so it needs no SDK import: the CLI's top-level
 * catch uses it for anything that reaches it, the producer to stop early on what no retry can fix.
 */

export type AwsProblem =
  | 'no-region'
  | 'no-credentials'
  | 'bad-credentials'
  | 'expired-credentials'
  | 'access-denied'
  | 'not-found'
  | 'unreachable';

export interface AwsErrorExplanation {
  problem: AwsProblem;
  message: string;
  hint: string;
  /** True when a later attempt may succeed (a refused connection, a timeout); setup errors are not. */
  retryable: boolean;
}

const CREDENTIALS_HINT =
  'configure credentials (aws configure, AWS_PROFILE, aws sso login), or use the local stack with --local';

// Error names from the AWS common errors (https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html)
// and S3's error codes (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html); the SDK
// names a service error after its code.
const REJECTED_CREDENTIALS = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
]);
const EXPIRED = new Set(['ExpiredTokenException', 'ExpiredToken', 'TokenRefreshRequired']);
const DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'NotAuthorized',
  'AuthorizationErrorException', // SNS
]);
const MISSING_OBJECT = new Set(['NoSuchKey', 'NotFound']);
const MISSING = new Set([
  'ResourceNotFoundException', // Kinesis stream, DynamoDB table
  'NotFoundException', // SNS topic
  'EntityNotFoundException', // Glue database or table
]);
// Raised before any request by the SDK's credential and token providers (a profile, SSO, IMDS chain).
const PROVIDER_ERRORS = new Set(['CredentialsProviderError', 'TokenProviderError']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH']);

/**
 * Explains an AWS setup failure; `what` names the resource the call was about (e.g. "Kinesis stream
 * events"), when the caller knows it. Undefined for anything else.
 */
export function explainAwsError(error: unknown, what?: string): AwsErrorExplanation | undefined {
  if (!(error instanceof Error)) return undefined;
  const name = error.name;
  const about = what ? ` for ${what}` : '';
  // The SDK throws a plain Error when no region comes from the client, AWS_REGION or the shared config
  // file (https://docs.aws.amazon.com/sdk-for-javascript/latest/developer-guide/setting-region.html).
  if (error.message === 'Region is missing') {
    return setup(
      'no-region',
      'no AWS region is set',
      'pass --region (or set AWS_REGION, or "region" in clickstream.config.json), or use the local stack with --local',
    );
  }
  if (EXPIRED.has(name) || (PROVIDER_ERRORS.has(name) && /expired/i.test(error.message))) {
    return setup(
      'expired-credentials',
      `the AWS session has expired${about}`,
      'refresh the credentials (aws sso login, or new temporary keys) and run again',
    );
  }
  if (PROVIDER_ERRORS.has(name)) {
    return setup('no-credentials', `no AWS credentials found${about}`, CREDENTIALS_HINT);
  }
  if (REJECTED_CREDENTIALS.has(name)) {
    return setup(
      'bad-credentials',
      `AWS rejected the credentials${about}: ${error.message}`,
      CREDENTIALS_HINT,
    );
  }
  if (DENIED.has(name)) {
    return setup(
      'access-denied',
      `access denied${about}: ${error.message}`,
      'the caller (aws sts get-caller-identity) needs IAM permissions for this; check the profile and the policies the stack deploys',
    );
  }
  if (MISSING_OBJECT.has(name)) {
    return setup(
      'not-found',
      `object not found: ${what ?? error.message}`,
      'check the key (aws s3 ls) or upload the file first',
    );
  }
  if (name === 'NoSuchBucket') {
    return setup(
      'not-found',
      `bucket not found: ${what ?? error.message}`,
      'check the bucket name and --region, or deploy the stack (npx cdk deploy)',
    );
  }
  if (MISSING.has(name)) {
    return setup(
      'not-found',
      what ? `${what} not found` : error.message,
      'check the name and --region, deploy the stack (npx cdk deploy), or add --local for the local stack',
    );
  }
  return unreachable(error, about);
}

function setup(problem: AwsProblem, message: string, hint: string): AwsErrorExplanation {
  return { problem, message, hint, retryable: false };
}

/** Connection errors: Node sets `code` on the error, or on its cause when the SDK wraps it. */
function unreachable(error: Error, about: string): AwsErrorExplanation | undefined {
  const failure = error as Error & { code?: string; cause?: unknown };
  const cause = failure.cause as (Error & { code?: string }) | undefined;
  const source = failure.code ? failure : cause?.code ? cause : undefined;
  const code = source?.code;
  if (!source || !code) return undefined;
  const where = endpointOf(source);
  if (code === 'ENOTFOUND') {
    return setup(
      'unreachable',
      `cannot reach AWS${about}: no such host${where ? ` ${where}` : ''}`,
      'check --region (e.g. us-east-1) and the network',
    );
  }
  if (!NETWORK_CODES.has(code)) return undefined;
  const local = where !== undefined && /^(127\.|localhost|\[?::1)/.test(where);
  return {
    problem: 'unreachable',
    message: `cannot reach ${where ?? 'the AWS endpoint'}${about} (${code})`,
    hint: local
      ? 'is the local stack running? `clickstream local status`'
      : 'check the network, any proxy (HTTPS_PROXY) and --region',
    retryable: true,
  };
}

function endpointOf(
  error: Error & { address?: string; port?: number; hostname?: string },
): string | undefined {
  if (error.address) return error.port ? `${error.address}:${error.port}` : error.address;
  if (error.hostname) return error.hostname;
  // Node reports a refused dual-stack connect as an AggregateError that carries the addresses inside.
  const first = (error as { errors?: unknown[] }).errors?.[0] as
    | { address?: string; port?: number }
    | undefined;
  if (first?.address) return first.port ? `${first.address}:${first.port}` : first.address;
  return undefined;
}
