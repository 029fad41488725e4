/** Signing in with the API token, and out. */
import type { FastifyInstance } from 'fastify';
import { sameSecret } from '../../infra/secrets';
import { type AuthDeps, issueSession, secureCookies, sessionCookie, sessionOf } from './auth';
import { html, notice, page } from './html';

export function signInPage(message?: string): string {
  return page({
    title: 'Sign in',
    body: html`<h1>Sign in</h1>
      ${notice(message ? { text: message, error: true } : undefined)}
      <form method="post" action="/console/sign-in" class="stack narrow">
        <label for="token">API token (DIALER_API_TOKEN)</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
        <button type="submit">Sign in</button>
      </form>
      <p class="hint">The console takes the same token as the HTTP API. Your session lasts 12 hours.</p>`,
  });
}

export function registerSignIn(scope: FastifyInstance, deps: AuthDeps): void {
  scope.get('/sign-in', async (req, reply) => {
    if (sessionOf(deps, req)) return reply.redirect('/console', 303);
    return reply.type('text/html; charset=utf-8').send(signInPage());
  });
  scope.post<{ Body: { token?: unknown } }>('/sign-in', async (req, reply) => {
    const token = typeof req.body?.token === 'string' ? req.body.token : '';
    if (!deps.apiToken || !sameSecret(token, deps.apiToken)) {
      req.log.warn('console sign-in refused: wrong token');
      return reply.code(401).type('text/html; charset=utf-8').send(signInPage('Wrong token.'));
    }
    const session = issueSession(deps.apiToken, deps.clock?.() ?? new Date());
    reply.header('Set-Cookie', sessionCookie(session, secureCookies(deps)));
    return reply.redirect('/console', 303);
  });
  scope.post('/sign-out', async (_req, reply) => {
    reply.header('Set-Cookie', sessionCookie(null, secureCookies(deps)));
    return reply.redirect('/console/sign-in', 303);
  });
}
