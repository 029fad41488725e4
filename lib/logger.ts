import pino from 'pino';

/**
 * Structured JSON logs. Secrets and full phone numbers never reach them: the redact paths
 * cover the fields where they could appear, and phone numbers are logged through maskPhone().
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
          'password',
          '*.password',
          'headers.authorization',
          'req.headers.authorization',
          'req.headers["x-twilio-signature"]',
        ],
        censor: '[redacted]',
      },
    },
    // stderr: a command's stdout stays for its output (e.g. --json)
    pino.destination({ fd: 2, sync: true }),
  );
}

/** +4930123456789 → +49301*****89: enough to tell numbers apart in a log, not to dial them. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return String(phone);
  if (phone.length <= 6) return '*'.repeat(phone.length);
  return phone.slice(0, 5) + '*'.repeat(phone.length - 7) + phone.slice(-2);
}
