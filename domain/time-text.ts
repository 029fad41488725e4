/**
 * Durations and times as operators and CRMs type them. Pure: a text that is not one is a
 * TimeTextError saying what to write instead; the CLI and the API turn it into their own errors.
 */
export class TimeTextError extends Error {
  override name = 'TimeTextError';
}

/** "90", "90s", "5m", "2h", "1h30m", "250ms" → milliseconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let consumed = '';
  for (const m of t.matchAll(re)) {
    total += Number(m[1]) * unit[m[2]!]!;
    consumed += m[0];
  }
  if (!consumed || consumed !== t) {
    throw new TimeTextError(`"${text}" is not a duration (examples: 90s, 5m, 2h, 1h30m)`);
  }
  return Math.round(total);
}

/** A time before this or after LATEST_TIME is a typing mistake, not a plan (and past 275760 not a Date). */
const EARLIEST_TIME = Date.parse('2000-01-01T00:00:00Z');
const LATEST_TIME = Date.parse('2200-01-01T00:00:00Z');
const ISO_WITH_ZONE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):?(\d{2}))$/;

/**
 * A time as operators and CRMs write it: ISO 8601 with a zone, "now", or +30m / +2h / +1d from
 * `now`. Days that do not exist (2026-02-30, which Date rolls over to March 2), hours past 23 and
 * times before 2000 or after 2200 are refused, not stored.
 */
export function readTime(text: string, now = new Date()): Date {
  const t = text.trim();
  const rel = /^\+?(\d{1,9})(s|m|h|d)$/.exec(t);
  let d: Date;
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    d = new Date(now.getTime() + Number(rel[1]) * unit);
  } else if (t === 'now') {
    d = now;
  } else {
    // ISO 8601 with a zone only: a time without one would silently mean the server's zone
    const iso = ISO_WITH_ZONE.exec(t);
    if (!iso) {
      throw new TimeTextError(
        `"${shorten(text)}" is not a time: use ISO 8601 with a zone (2026-12-01T09:30:00+01:00 or …Z), "now", or +30m / +2h / +1d`,
      );
    }
    d = new Date(t);
    if (Number.isNaN(d.getTime()) || !realClock(iso)) {
      throw new TimeTextError(`"${shorten(text)}" is not a real time (no such day or hour)`);
    }
  }
  if (!(d.getTime() >= EARLIEST_TIME && d.getTime() < LATEST_TIME))
    throw new TimeTextError(`"${shorten(text)}" is out of range: give a time between 2000 and 2200`);
  return d;
}

/** Whether an ISO time's parts name a day that exists and a clock time (offset included). */
function realClock(iso: RegExpExecArray): boolean {
  const [y, mo, day, h, mi, s, oh, om] = iso.slice(1).map((v) => (v === undefined ? 0 : Number(v)));
  const date = new Date(Date.UTC(y!, mo! - 1, day!));
  const dayExists =
    date.getUTCFullYear() === y && date.getUTCMonth() === mo! - 1 && date.getUTCDate() === day;
  return dayExists && h! <= 23 && mi! <= 59 && s! <= 59 && oh! <= 23 && om! <= 59;
}

function shorten(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
