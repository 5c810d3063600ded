import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from './config';

/**
 * A base logger (JSON lines) at the configured level. Each process (a Lambda cold start, the
 * local server) builds one with its deps; requests log through requestLog(), which adds their
 * own keys to each line, so concurrent requests in the local server never mix keys.
 */
export function createLogger(level: LogLevel): Logger {
  return new Logger({ serviceName: SERVICE, logLevel: level.toUpperCase() as Uppercase<LogLevel> });
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

const SERVICE = 'task-executor-api';
const THRESHOLD = { DEBUG: 8, INFO: 12, WARN: 16, ERROR: 20, SILENT: 28, CRITICAL: 24, TRACE: 6 } as const;
/**
 * Outside Lambda (the local server) a request's info and debug lines are written here, in the
 * base logger's JSON shape (level, message, timestamp, service, sampling_rate, keys): one
 * JSON.stringify and one write. Through powertools each line cost about 3x that (120-215 µs
 * here), a fifth of a create's server time at LOG_LEVEL=info. On Lambda powertools writes every
 * line (it adds the X-Ray trace id); warnings and errors always go through it (errors formatted).
 */
const DIRECT = process.env.AWS_LAMBDA_FUNCTION_NAME === undefined;

/**
 * The base logger's level as a threshold, read once per logger: getLevelName goes through
 * powertools' invocation store, which reads the environment each time (0.5 % of the server's
 * time when it ran once per request). Nothing here changes a logger's level once made.
 */
const thresholds = new WeakMap<Logger, number>();
function thresholdOf(base: Logger): number {
  let threshold = thresholds.get(base);
  if (threshold === undefined) {
    threshold = THRESHOLD[base.getLevelName()] ?? THRESHOLD.INFO;
    thresholds.set(base, threshold);
  }
  return threshold;
}

/**
 * A request's log: the base logger with the request's keys (request id, task id) on every
 * line. One small object per request: a powertools child logger per request cost a fifth of
 * the server's JavaScript time under load (it re-reads the environment and builds a Console).
 */
export function requestLog(base: Logger, keys: Extra): Log {
  const own: Extra = { ...keys };
  const threshold = thresholdOf(base);
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, extra?: Extra): void =>
      base[level](message, extra === undefined ? own : { ...own, ...extra });
  const direct =
    (level: 'DEBUG' | 'INFO', fallback: 'debug' | 'info') =>
    (message: string, extra?: Extra): void => {
      if (threshold > THRESHOLD[level]) return;
      if (!DIRECT) {
        at(fallback)(message, extra);
        return;
      }
      const line = { level, message, timestamp: new Date().toISOString(), service: SERVICE, sampling_rate: 0, ...own, ...extra };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    };
  return {
    debug: direct('DEBUG', 'debug'),
    info: direct('INFO', 'info'),
    warn: at('warn'),
    error: at('error'),
    appendKeys: (more) => {
      Object.assign(own, more);
    },
  };
}
