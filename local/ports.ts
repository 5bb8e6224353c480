/**
 * Where a local stack listens: loopback only, on fixed default ports so that a stack started in one
 * terminal is found by commands in another. Apart from local/stack.ts so the CLI can name them in its
 * help without loading the emulators.
 */

export const LOCAL_HOST = '127.0.0.1';

/** Fixed default ports, so a stack started in one terminal is found by commands in another. */
export const DEFAULT_LOCAL_PORTS = {
  kinesis: 4567,
  dynamodb: 4568,
  s3: 4569,
  sns: 4575,
  smtp: 1025,
  mailWeb: 1080,
};
export type LocalPorts = typeof DEFAULT_LOCAL_PORTS;
