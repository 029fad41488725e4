/**
 * The console's sign-in and its safety: a session cookie derived from the API token
 * (DIALER_API_TOKEN), a CSRF token derived from the session, and an Origin check on every POST.
 *
 * The session is `<issuedAt>.<HMAC-SHA256(token, 'console-session:' + issuedAt)>`: the server keeps
 * no session state, a changed token ends every session, and a cookie is good for 12 h. The CSRF
 * token is HMAC(token, 'csrf:' + session): a page of another origin can make the browser send the
 * cookie (SameSite=Strict already refuses most of that) but cannot read the token to send with it.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sameSecret } from '../../infra/secrets';
import { html, notice, page } from './html';

export const SESSION_COOKIE = 'dialer_console';
export const SESSION_MAX_AGE_S = 12 * 3600;
/** A session issued by a clock a little ahead of this one is still good. */
const CLOCK_SKEW_MS = 60_000;

const hmac = (token: string, text: string) =>
  createHmac('sha256', token).update(text, 'utf8').digest('base64url');

/** A new session's cookie value. */
export function issueSession(token: string, now: Date): string {
  const issuedAt = String(now.getTime());
  return `${issuedAt}.${hmac(token, `console-session:${issuedAt}`)}`;
}

/** Whether the value is a session this token issued within the last 12 h. */
export function sessionValid(token: string, value: string | undefined, now: Date): boolean {
  const m = /^(\d{1,16})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
  if (!m) return false;
  const age = now.getTime() - Number(m[1]);
  if (age >= SESSION_MAX_AGE_S * 1000 || age < -CLOCK_SKEW_MS) return false;
  return sameSecret(m[2]!, hmac(token, `console-session:${m[1]}`));
}

/** The CSRF token of a session. */
export const csrfFor = (token: string, session: string) => hmac(token, `csrf:${session}`);

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie header of a session (or, with null, of its removal). */
export function sessionCookie(value: string | null, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${value ?? ''}`,
    'Path=/console',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${value === null ? 0 : SESSION_MAX_AGE_S}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/**
 * Whether a state-changing request comes from a page of this host: its Origin (else its Referer),
 * when the browser sent one, names the host the request was sent to. "null" (an opaque origin) or
 * a text that is no URL is refused.
 */
export function sameOrigin(headers: { origin?: string; referer?: string; host?: string }): boolean {
  const from = headers.origin ?? headers.referer;
  if (from === undefined) return true;
  try {
    return new URL(from).host === headers.host;
  } catch {
    return false;
  }
}

export interface AuthDeps {
  /** DIALER_API_TOKEN; without it the console answers 503. */
  apiToken?: string;
  /** Where the server is reached: the cookie is Secure when this is https. */
  publicBaseUrl?: string;
  clock?: () => Date;
}

/** The request's session, when it carries a valid one. */
export function sessionOf(deps: AuthDeps, req: FastifyRequest): string | undefined {
  const value = cookieValue(req.headers.cookie, SESSION_COOKIE);
  const now = deps.clock?.() ?? new Date();
  return deps.apiToken && sessionValid(deps.apiToken, value, now) ? value : undefined;
}

/** The CSRF token of the request's session (for the forms and hx-headers of its page). */
export function csrfOf(deps: AuthDeps, req: FastifyRequest): string {
  const session = sessionOf(deps, req);
  return session && deps.apiToken ? csrfFor(deps.apiToken, session) : '';
}

export const secureCookies = (deps: AuthDeps) => (deps.publicBaseUrl ?? '').startsWith('https:');

/** Paths that need no session: signing in, and the files every page loads. */
const OPEN = /^\/console\/(sign-in|assets\/[a-z.-]+)(\?.*)?$/;

export const isHtmx = (req: FastifyRequest) => req.headers['hx-request'] === 'true';

/** A refusal: a page, or for htmx the notice alone (swapped in where the answer goes). */
function refuse(req: FastifyRequest, reply: FastifyReply, status: number, title: string, text: string) {
  const body = isHtmx(req)
    ? notice({ text, error: true }).text
    : page({
        title,
        body: html`<h1>${title}</h1>
          ${notice({ text, error: true })}`,
      });
  return reply.code(status).type('text/html; charset=utf-8').header('Cache-Control', 'no-store').send(body);
}

/**
 * Every /console request but sign-in and the assets needs a session: a page is redirected to
 * sign-in, an htmx request answered 401 with HX-Redirect (htmx then loads sign-in). Every POST
 * needs the session's CSRF token (form field `_csrf` or header X-CSRF-Token) and a same-origin
 * Origin/Referer; otherwise 403 and nothing is done.
 */
export function registerAuthHooks(scope: FastifyInstance, deps: AuthDeps): void {
  scope.addHook('onRequest', async (req, reply) => {
    if (/^\/console\/assets\//.test(req.url)) return;
    if (!deps.apiToken) {
      return refuse(
        req,
        reply,
        503,
        'Console disabled',
        'The console is disabled: set DIALER_API_TOKEN on the server.',
      );
    }
    if (OPEN.test(req.url) || sessionOf(deps, req)) return;
    if (isHtmx(req)) return reply.code(401).header('HX-Redirect', '/console/sign-in').send();
    return reply.redirect('/console/sign-in', 303);
  });
  scope.addHook('preHandler', async (req, reply) => {
    if (req.method !== 'POST') return;
    if (!sameOrigin(req.headers)) {
      return refuse(req, reply, 403, 'Refused', 'This form was sent from another site: nothing was done.');
    }
    if (/^\/console\/sign-in(\?|$)/.test(req.url)) return;
    const body = req.body as { _csrf?: unknown } | undefined;
    const header = req.headers['x-csrf-token'];
    const sent = typeof header === 'string' ? header : typeof body?._csrf === 'string' ? body._csrf : '';
    const expected = csrfOf(deps, req);
    if (!expected || !sameSecret(sent, expected)) {
      return refuse(
        req,
        reply,
        403,
        'Refused',
        'The form’s security token is missing or stale: reload the page and try again.',
      );
    }
  });
}
