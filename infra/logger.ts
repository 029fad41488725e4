import pino from 'pino';
import { maskUrlPasswordsIn } from './secrets';

/**
 * Structured JSON logs. Secrets and full phone numbers never reach them: the redact paths
 * cover the fields where they could appear, phone numbers are logged through maskPhone(), and
 * request URLs through redactUrl() (no query string, numbers in the path masked).
 */
export function createLogger(level: string, name = 'dialer'): pino.Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: [
          'authToken',
          '*.authToken',
          'apiToken',
          '*.apiToken',
          'password',
          '*.password',
          'headers.authorization',
          'req.headers.authorization',
          'req.headers["x-twilio-signature"]',
        ],
        censor: '[redacted]',
      },
      serializers: logSerializers,
      // a message that quotes a URL with a password (a connection string) has it masked
      hooks: {
        logMethod(args, method) {
          const masked = args.map((a) => (typeof a === 'string' ? maskUrlPasswordsIn(a) : a));
          return method.apply(this, masked as Parameters<typeof method>);
        },
      },
    },
    // stderr: a command's stdout stays for its output (e.g. --json)
    pino.destination({ fd: 2, sync: true }),
  );
}

interface LoggedRequest {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** What a request log line says of a request: never its query string, headers or body. */
function requestForLog(req: LoggedRequest) {
  return {
    method: req.method,
    url: req.url === undefined ? undefined : redactUrl(req.url),
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** An error as pino logs it, with any password in a URL in its message or stack masked. */
function errorForLog(err: Error) {
  const out = pino.stdSerializers.err(err);
  if (typeof out.message === 'string') out.message = maskUrlPasswordsIn(out.message);
  if (typeof out.stack === 'string') out.stack = maskUrlPasswordsIn(out.stack);
  return out;
}

/**
 * Fastify's request logs (`incoming request`) use `req`: its own logs the full URL. `err` masks
 * passwords in URLs that a driver's or a library's error message may carry.
 */
export const logSerializers = { req: requestForLog, err: errorForLog };

// +15005550177 or %2B15005550177 as a path segment (an agent's endpoint); contact ids stay
const PHONE_IN_PATH = /(\+|%2B)\d{6,15}(?=\/|$)/gi;

/**
 * A request URL fit for a log: the query string (a `?token=` sent by mistake, a Twilio callback's
 * agent number) replaced by `?[redacted]`, and phone numbers in the path masked like contacts'.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const masked = path.replace(PHONE_IN_PATH, (m) => maskPhone(decodeURIComponent(m)));
  return q < 0 ? masked : `${masked}?[redacted]`;
}

/** +4930123456789 → +49301*****89: enough to tell numbers apart in a log, not to dial them. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return String(phone);
  if (phone.length <= 6) return '*'.repeat(phone.length);
  return phone.slice(0, 5) + '*'.repeat(phone.length - 7) + phone.slice(-2);
}
