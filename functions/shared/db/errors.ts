/**
 * Driver errors become HTTP errors here, where SQL runs, by SQLSTATE code (or the socket's
 * errno code), never by matching message text. Both Db implementations call it on every error
 * a query raises; errors thrown by the caller's own code inside tx() pass through unchanged.
 */
import { HttpError, UnavailableError, ValidationError } from '../errors';

/** SQLSTATE classes and codes that mean "the database cannot serve this right now": retry. */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57']);
const UNAVAILABLE_CODES = new Set(['40001', '40P01']);
/** 08P01 protocol_violation is our bug, not an outage; 57014 query_canceled is a timeout (503). */
const NOT_UNAVAILABLE = new Set(['08P01']);

const SQLSTATE = /^[0-9A-Z]{5}$/;
const ERRNO = /^E[A-Z]+$/;

/** The HttpError a driver error stands for, or the error itself when it is a plain bug. */
export function translateDbError(error: unknown): unknown {
  if (error instanceof HttpError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && SQLSTATE.test(code)) {
    if (code === '22021') {
      return new ValidationError('A text value holds a byte sequence that cannot be stored (such as a NUL byte); remove it.');
    }
    if (code === '22P02') return new ValidationError('A value has the wrong format for its field; check ids and numbers.');
    if (!NOT_UNAVAILABLE.has(code) && (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CLASSES.has(code.slice(0, 2)))) {
      return unavailable(error);
    }
    return error;
  }
  // A socket error (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND, EPIPE...), or an error the
  // driver raised itself without a SQLSTATE (connection terminated, connect or read timeout,
  // pool or PGlite closed): the database is out of reach, whatever the text says.
  if (typeof code === 'string' && ERRNO.test(code)) return unavailable(error);
  if (error instanceof Error && code === undefined) return unavailable(error);
  return error;
}

function unavailable(cause: unknown): UnavailableError {
  const e = new UnavailableError('The database cannot be reached right now; retry shortly.');
  (e as { cause?: unknown }).cause = cause;
  return e;
}
