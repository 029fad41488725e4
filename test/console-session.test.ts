/**
 * The console's session and CSRF tokens (server/console/auth.ts), without a server: a session is
 * good for 12 h under the token that issued it and no other, a changed byte spoils it, and a POST
 * from another origin is told apart from one of ours.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  SESSION_COOKIE,
  cookieValue,
  csrfFor,
  issueSession,
  sameOrigin,
  sessionCookie,
  sessionValid,
} from '../server/console/auth';

const TOKEN = 'console-test-token-0123456789';
const t0 = new Date('2026-03-01T08:00:00Z');
const later = (ms: number) => new Date(t0.getTime() + ms);

test('a session is good for 12 hours under the token that issued it', () => {
  const s = issueSession(TOKEN, t0);
  assert.equal(sessionValid(TOKEN, s, t0), true);
  assert.equal(sessionValid(TOKEN, s, later(12 * 3600_000 - 1)), true);
  assert.equal(sessionValid(TOKEN, s, later(12 * 3600_000)), false, 'expired after 12 h');
  assert.equal(sessionValid(TOKEN, s, later(-5 * 60_000)), false, 'issued in the future');
  assert.equal(sessionValid(`${TOKEN}x`, s, t0), false, 'another token (rotated) ends every session');
});

test('a session whose time or signature was changed is refused', () => {
  const s = issueSession(TOKEN, t0);
  const [issuedAt, mac] = s.split('.') as [string, string];
  assert.equal(sessionValid(TOKEN, `${Number(issuedAt) + 3600_000}.${mac}`, t0), false, 'a later time');
  const flipped = mac.slice(0, -1) + (mac.endsWith('A') ? 'B' : 'A');
  assert.equal(sessionValid(TOKEN, `${issuedAt}.${flipped}`, t0), false, 'a changed signature');
  for (const bad of [undefined, '', 'x', `${issuedAt}.`, `.${mac}`, TOKEN])
    assert.equal(sessionValid(TOKEN, bad, t0), false, String(bad));
});

test('the CSRF token belongs to one session', () => {
  const a = issueSession(TOKEN, t0);
  const b = issueSession(TOKEN, later(1000));
  assert.notEqual(csrfFor(TOKEN, a), csrfFor(TOKEN, b));
  assert.equal(csrfFor(TOKEN, a), csrfFor(TOKEN, a));
  assert.ok(!csrfFor(TOKEN, a).includes(TOKEN));
});

test('the cookie: HttpOnly, SameSite=Strict, on /console, Secure when asked, and removed with Max-Age=0', () => {
  const c = sessionCookie('v', false);
  assert.match(c, /^dialer_console=v; /);
  for (const part of ['HttpOnly', 'SameSite=Strict', 'Path=/console', 'Max-Age=43200'])
    assert.ok(c.split('; ').includes(part), part);
  assert.ok(!c.includes('Secure'));
  assert.ok(sessionCookie('v', true).split('; ').includes('Secure'));
  assert.ok(sessionCookie(null, false).split('; ').includes('Max-Age=0'));
  assert.equal(cookieValue(`a=1; ${SESSION_COOKIE}=abc.def; b=2`, SESSION_COOKIE), 'abc.def');
  assert.equal(cookieValue('x_dialer_console=1', SESSION_COOKIE), undefined);
});

test('Origin (else Referer) must name the host the request was sent to', () => {
  const host = '127.0.0.1:3000';
  assert.equal(sameOrigin({ host }), true, 'neither sent: the CSRF token decides');
  assert.equal(sameOrigin({ host, origin: 'http://127.0.0.1:3000' }), true);
  assert.equal(sameOrigin({ host, origin: 'http://evil.example' }), false);
  assert.equal(sameOrigin({ host, origin: 'null' }), false, 'an opaque origin');
  assert.equal(sameOrigin({ host, referer: 'http://127.0.0.1:3000/console' }), true);
  assert.equal(sameOrigin({ host, referer: 'http://127.0.0.1:3001/console' }), false, 'another port');
  assert.equal(
    sameOrigin({ host, origin: 'http://evil.example', referer: 'http://127.0.0.1:3000/' }),
    false,
    'Origin decides when sent',
  );
});
