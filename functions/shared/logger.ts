import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from './config';

/**
 * The process-wide base logger (JSON lines). Requests log through requestLog(), which adds
 * their own keys to each line, so concurrent requests in the local server never mix keys.
 */
export const logger = new Logger({ serviceName: 'task-executor-api' });

/** Applies the configured level (LOG_LEVEL, validated by loadConfig). */
export function setLogLevel(level: LogLevel): void {
  logger.setLogLevel(level.toUpperCase() as Uppercase<LogLevel>);
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
export function requestLog(keys: Extra): Log {
  const own: Extra = { ...keys };
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, extra?: Extra): void =>
      logger[level](message, extra === undefined ? own : { ...own, ...extra });
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
