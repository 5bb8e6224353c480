/** The consumers' one error class: expected failures carry a message a person can act on, and the cause. */
export class ConsumerError extends Error {
  override name = 'ConsumerError';
}

/** AWS SDK errors carry the service's error code as `name`. */
export function isAwsError(error: unknown, ...names: string[]): boolean {
  return error instanceof Error && names.includes(error.name);
}
