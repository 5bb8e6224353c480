/**
 * A refused call, shaped as the service returns it: the error code each service uses for an IAM
 * denial as `name` (what SDK v3 puts there), the HTTP status, and the message IAM writes, which names
 * the caller, the action, the resource and why
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).
 */
import type { Decision } from './policy.ts';

// S3: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (AccessDenied, 403);
// SNS: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors (AuthorizationError, 403);
// DynamoDB, Kinesis, Athena, Glue, KMS answer AccessDeniedException with 400.
const ERRORS: Record<string, { code: string; status: number }> = {
  s3: { code: 'AccessDenied', status: 403 },
  sns: { code: 'AuthorizationError', status: 403 },
};
const DEFAULT_ERROR = { code: 'AccessDeniedException', status: 400 };

export class AccessDeniedError extends Error {
  readonly $fault = 'client' as const;
  readonly $metadata: { httpStatusCode: number };

  constructor(
    readonly decision: Decision,
    /** The service whose client made the call; a denial of a dependent action surfaces through it. */
    service: string,
  ) {
    super(decision.message);
    const shape = ERRORS[service] ?? DEFAULT_ERROR;
    this.name = shape.code;
    this.$metadata = { httpStatusCode: shape.status };
  }
}

/** Throws the service's AccessDenied for a refused decision; returns the decision otherwise. */
export function enforce(decision: Decision, service: string): Decision {
  if (!decision.allowed) throw new AccessDeniedError(decision, service);
  return decision;
}
