import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small webhook receiver that stands in for the dialer's server: it records every request the
 * simulator sends and answers each path with a configured response (TwiML, or an error status).
 * Tests use it to see exactly what Twilio would have sent; it also helps to try a scenario by
 * hand without the dialer running.
 */

export interface RecordedRequest {
  method: string;
  /** Path and query, as received. */
  path: string;
  /** The full URL the request was made to: what X-Twilio-Signature was computed over. */
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Form body parameters (POST) or query parameters (GET). */
  params: Record<string, string>;
  signature?: string;
  receivedAt: number;
}

export interface RecorderResponse {
  status?: number;
  /** Sent as text/xml. */
  twiml?: string;
  /** Wait this long before answering (e.g. to make a request time out). */
  delayMs?: number;
}

export type Responder = (req: RecordedRequest) => RecorderResponse | undefined;

export interface WebhookRecorder {
  /** Base URL, no trailing slash. */
  url: string;
  readonly requests: RecordedRequest[];
  /** Answer requests to this path (without query) with what `respond` returns. */
  on(path: string, respond: Responder | RecorderResponse): void;
  /** Resolves with the first recorded request (past or future) that matches. */
  waitFor(match: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

export async function startWebhookRecorder(host = '127.0.0.1'): Promise<WebhookRecorder> {
  const requests: RecordedRequest[] = [];
  const responders = new Map<string, Responder>();
  const waiters = new Set<() => void>();
  const pending = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = recordOf(req, Buffer.concat(chunks).toString('utf8'), base);
      requests.push(recorded);
      for (const wake of [...waiters]) wake();
      const pathname = recorded.path.split('?', 2)[0] ?? '/';
      answer(res, responders.get(pathname)?.(recorded) ?? {}, pending);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://${host}:${port}`;

  return {
    url: base,
    requests,
    on(path, respond) {
      responders.set(path, typeof respond === 'function' ? respond : () => respond);
    },
    waitFor: (match, timeoutMs = 5_000) => waitFor(requests, waiters, match, timeoutMs),
    async close() {
      for (const t of pending) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function recordOf(req: http.IncomingMessage, body: string, base: string): RecordedRequest {
  const path = req.url ?? '/';
  const query = path.split('?', 2)[1] ?? '';
  const source = req.method === 'GET' ? query : body;
  return {
    method: req.method ?? 'GET',
    path,
    url: `${base}${path}`,
    headers: req.headers,
    params: Object.fromEntries(new URLSearchParams(source)),
    signature: req.headers['x-twilio-signature'] as string | undefined,
    receivedAt: Date.now(),
  };
}

/** Answers now, or after `delayMs` on a timer that close() cancels. */
function answer(res: http.ServerResponse, response: RecorderResponse, pending: Set<NodeJS.Timeout>): void {
  const send = () => {
    res.writeHead(response.status ?? 200, { 'Content-Type': 'text/xml' });
    res.end(response.twiml ?? EMPTY_TWIML);
  };
  if (response.delayMs) {
    const t = setTimeout(() => {
      pending.delete(t);
      send();
    }, response.delayMs);
    pending.add(t);
  } else send();
}

function waitFor(
  requests: RecordedRequest[],
  waiters: Set<() => void>,
  match: (r: RecordedRequest) => boolean,
  timeoutMs: number,
): Promise<RecordedRequest> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = requests.find(match);
      if (!found) return false;
      waiters.delete(check);
      clearTimeout(timer);
      resolve(found);
      return true;
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`no matching webhook request within ${timeoutMs} ms (got ${requests.length})`));
    }, timeoutMs);
    if (!check()) waiters.add(check);
  });
}
