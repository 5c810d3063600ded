/**
 * A raw HTTP/1.1 client over a TCP socket for hostile-input tests: sends exactly the bytes it
 * is given (request targets fetch would normalise, duplicate or malformed headers, bodies
 * that lie about their length), then reads the answer until the server closes.
 */
import { connect } from 'node:net';

export type RawReply = {
  status: number;
  /** header names lower-cased; repeated headers joined with ", " */
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  /** the body parsed as JSON, or undefined when it is not JSON */
  json: unknown;
};

export type RawRequest = {
  method: string;
  /** the request target, sent as-is */
  target: string;
  /** sent in this order, repeats allowed; Host, Connection: close and Content-Length are added unless given */
  headers?: [string, string][];
  body?: string | Buffer;
  /** skip the automatic Content-Length (to send a lying or chunked body) */
  noContentLength?: boolean;
};

/** Encodes a request: latin1 for the head, so every byte 0-255 can be sent in it. */
export function encodeRequest(host: string, req: RawRequest): Buffer {
  const body = req.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
  const headers = [...(req.headers ?? [])];
  const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
  if (!has('host')) headers.unshift(['Host', host]);
  if (!has('connection')) headers.push(['Connection', 'close']);
  if (!req.noContentLength && !has('content-length') && (body.length > 0 || req.method === 'POST' || req.method === 'PUT')) {
    headers.push(['Content-Length', String(body.length)]);
  }
  const head = `${req.method} ${req.target} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = Number.parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Parses the first response in `data` (HEAD answers carry no body, whatever they announce). */
export function parseResponse(data: Buffer, method: string): RawReply {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete response head in ${JSON.stringify(data.toString('latin1').slice(0, 200))}`);
  const [statusLine = '', ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const status = Number(match[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let body = data.subarray(end + 4);
  if (method === 'HEAD' || status === 204 || status === 304) body = Buffer.alloc(0);
  else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, headers, body, text, json };
}

/** True once `data` holds a whole response: its head and the body its head announces. */
function complete(data: Buffer, method: string): boolean {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const head = data.subarray(0, end).toString('latin1');
  const status = Number(head.slice(9, 12));
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) return true;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) return data.length - end - 4 >= Number(length[1]);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head))
    return (
      data.subarray(end + 4).includes('\r\n0\r\n\r\n') ||
      data
        .subarray(end + 4)
        .toString('latin1')
        .startsWith('0\r\n\r\n')
    );
  return false;
}

/**
 * Sends one request on a new connection and resolves with the answer as soon as it is
 * complete (or the server closes the connection); rejects when there is none.
 */
export function rawRequest(baseUrl: string, req: RawRequest, timeoutMs = 15000): Promise<RawReply> {
  const url = new URL(baseUrl);
  const bytes = encodeRequest(url.host, req);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = connect(Number(url.port), url.hostname);
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      if (data.length === 0) {
        reject(new Error(`the server closed the connection without answering ${req.method} ${req.target.slice(0, 100)}`));
        return;
      }
      try {
        resolve(parseResponse(data, req.method));
      } catch (error) {
        reject(error);
      }
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms to ${req.method} ${req.target.slice(0, 100)}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const data = Buffer.concat(chunks);
      // A 100 Continue may come first: skip interim answers.
      const interim = /^HTTP\/1\.[01] 1\d\d[^\r]*\r\n\r\n/.exec(data.toString('latin1', 0, 200));
      if (interim) chunks.splice(0, chunks.length, data.subarray(interim[0].length));
      if (complete(Buffer.concat(chunks), req.method)) settle();
    });
    // The server may answer and close before it has read a large body: a reset is then normal.
    socket.on('error', () => {});
    socket.on('close', settle);
    // No half-close: Node's HTTP server drops a request whose client has ended its side.
    socket.write(bytes);
  });
}
