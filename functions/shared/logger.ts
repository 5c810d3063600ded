import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from './config';

/**
 * A base logger (JSON lines) at the configured level. Each process (a Lambda cold start, the
 * local server) builds one with its deps; requests log through requestLog(), which adds their
 * own keys to each line, so concurrent requests in the local server never mix keys.
 */
export function createLogger(level: LogLevel): Logger {
  return new Logger({ serviceName: 'task-executor-api', logLevel: level.toUpperCase() as Uppercase<LogLevel> });
}

type Extra = Record<string, unknown>;

/** What handler cores log through. */
export type Log = {
  debug(message: string, extra?: Extra): void;
  info(message: string, extra?: Extra): void;
  warn(message: string, extra?: Extra): void;
  error(message: string, extra?: Extra): void;
  appendKeys(keys: Extra): void;
};

/**
 * A request's log: the base logger with the request's keys (request id, task id) on every
 * line. One small object per request: a powertools child logger per request cost a fifth of
 * the server's JavaScript time under load (it re-reads the environment and builds a Console).
 */
export function requestLog(base: Logger, keys: Extra): Log {
  const own: Extra = { ...keys };
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, extra?: Extra): void =>
      base[level](message, extra === undefined ? own : { ...own, ...extra });
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    appendKeys: (more) => {
      Object.assign(own, more);
    },
  };
}
