import { timingSafeEqual } from 'node:crypto';

/** Compares a presented secret with the expected one in constant time. */
export function sameSecret(presented: string, expected: string): boolean {
  const x = Buffer.from(presented);
  const y = Buffer.from(expected);
  return x.length === y.length && timingSafeEqual(x, y);
}
