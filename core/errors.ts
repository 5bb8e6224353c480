/**
 * The base of every expected failure in the project: a message a person can act on, an optional hint,
 * and the cause. The CLI prints it as one line plus the hint (exit 2); anything else keeps its stack.
 * Each part (producer, analytics, local) derives its own class from it, so every part may import it.
 *
 * Pure code: no AWS SDK, no process.env.
 */
export class ClickstreamError extends Error {
  override name = 'ClickstreamError';
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
