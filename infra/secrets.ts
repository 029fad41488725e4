import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A key of this process's own: HMACs under it are what sameSecret compares. */
const compareKey = randomBytes(32);

/**
 * Compares a presented secret with the expected one in constant time, whatever their lengths:
 * both are HMACed under a random key first, so the comparison is always of two 32-byte digests
 * and neither an early return nor the time taken tells how long the expected secret is.
 */
export function sameSecret(presented: string, expected: string): boolean {
  const digest = (s: string) => createHmac('sha256', compareKey).update(s, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * A URL with its password replaced by *** (postgres://user:***@host/db), for banners and logs.
 * A password given as a `password=` query parameter is masked too.
 */
export function maskUrlPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password && !u.searchParams.has('password')) return url;
    if (u.password) u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString();
  } catch {
    // not parseable as a URL (e.g. postgres://user:pass@/db?host=/socket): mask by pattern
    return url.replace(/(\/\/[^:/@\s]*:)[^@\s]*@/, '$1***@').replace(/(password=)[^&\s]*/gi, '$1***');
  }
}

/** Every `scheme://user:password@` in a text (an error message, a log line) with the password masked. */
export function maskUrlPasswordsIn(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s/]+@/gi, '$1***@')
    .replace(/([?&]password=)[^&\s]*/gi, '$1***');
}
