import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from './config';

/**
 * The process-wide base logger (JSON lines). Requests log through a child of it that
 * carries their request id, so concurrent requests in the local server never mix keys.
 */
export const logger = new Logger({ serviceName: 'task-executor-api' });

/** Applies the configured level (LOG_LEVEL, validated by loadConfig). */
export function setLogLevel(level: LogLevel): void {
  logger.setLogLevel(level.toUpperCase() as Uppercase<LogLevel>);
}

export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error' | 'appendKeys'>;
