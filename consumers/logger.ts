/**
 * The logging surface record processors and the local runner take by injection. In Lambda it is
 * Powertools Logger (the handlers create it: JSON lines with the service name and the log level the
 * function's logging config sets); the local runner and tests pass `createJsonLogger` with a writer of
 * their own, or nothing (silent).
 */
export interface Logger {
  debug(message: string, ...fields: Record<string, unknown>[]): void;
  info(message: string, ...fields: Record<string, unknown>[]): void;
  warn(message: string, ...fields: Record<string, unknown>[]): void;
  error(message: string, ...fields: Record<string, unknown>[]): void;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One JSON object per line to `write`: for local runs and tests, which capture or drop the lines. */
export function createJsonLogger(level: LogLevel, write: (line: string) => void): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const at =
    (name: Exclude<LogLevel, 'silent'>) =>
    (message: string, ...fields: Record<string, unknown>[]) => {
      if (LOG_LEVELS.indexOf(name) < threshold) return;
      write(JSON.stringify(Object.assign({ level: name, message }, ...fields)));
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
