import twilio from 'twilio';

/**
 * Requests to the dialer's webhooks, made the way Twilio makes them: form-encoded POST (or the
 * parameters in the query string for GET), signed with X-Twilio-Signature computed by the SDK's
 * own function, so `twilio.validateRequest` on the receiving side accepts exactly what Twilio's
 * real requests would make it accept.
 */

// Twilio gives a webhook 15 s to answer before it gives up on the request.
export const WEBHOOK_TIMEOUT_MS = 15_000;

export interface SignedRequest {
  url: string;
  method: 'GET' | 'POST';
  params: Record<string, string>;
  authToken: string;
  /** Twilio's I-Twilio-Idempotency-Token: the same for a duplicate delivery of one callback. */
  idempotencyToken: string;
  signal: AbortSignal;
  timeoutMs?: number;
}

export interface WebhookResponse {
  status: number;
  body: string;
}

/** The exact URL and signature Twilio would use for this request. */
export function signRequest(
  authToken: string,
  url: string,
  method: 'GET' | 'POST',
  params: Record<string, string>,
): { url: string; signature: string } {
  if (method === 'POST') {
    return { url, signature: twilio.getExpectedTwilioSignature(authToken, url, params) };
  }
  // For GET, Twilio appends the parameters to the URL and signs the full URL with no body.
  const query = new URLSearchParams(params).toString();
  const full = query ? `${url}${url.includes('?') ? '&' : '?'}${query}` : url;
  return { url: full, signature: twilio.getExpectedTwilioSignature(authToken, full, {}) };
}

export async function sendSignedRequest(req: SignedRequest): Promise<WebhookResponse> {
  const signed = signRequest(req.authToken, req.url, req.method, req.params);
  const headers: Record<string, string> = {
    'X-Twilio-Signature': signed.signature,
    'I-Twilio-Idempotency-Token': req.idempotencyToken,
    'User-Agent': 'TwilioProxy/1.1',
    Accept: '*/*',
  };
  const init: RequestInit = {
    method: req.method,
    headers,
    // A 3xx is an answer the dialer gave, not something to follow silently.
    redirect: 'manual',
    signal: AbortSignal.any([req.signal, AbortSignal.timeout(req.timeoutMs ?? WEBHOOK_TIMEOUT_MS)]),
  };
  if (req.method === 'POST') {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(req.params).toString();
  }
  const res = await fetch(signed.url, init);
  const body = await res.text();
  return { status: res.status, body };
}

/** A short reason for a failed request, for the call's record and the log. */
export function describeFailure(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    if (err.name === 'TimeoutError') return 'timed out';
    if (err.name === 'AbortError') return 'aborted (simulator closing)';
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: string }).code;
      return code ? `${code}: ${cause.message}` : cause.message;
    }
    return err.message;
  }
  return String(err);
}
