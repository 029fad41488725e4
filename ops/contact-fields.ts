import { parseTime } from './contact-operations';
import { strictE164 } from '../domain/phone';

/**
 * The checks every new contact passes, whether it comes from a CSV file or the HTTP API: pure
 * rules, no I/O. Each limit keeps a bad value from reaching PostgreSQL (which refuses NUL in text
 * and jsonb), `JSON.stringify` (deep nesting) or the timers (dates beyond any plan), where it
 * would come back as a 500 instead of a message naming the field.
 */

/** A contact's name, in characters. */
export const NAME_MAX = 200;
/** `data` serialised as JSON, in bytes. */
export const DATA_MAX_BYTES = 16 * 1024;
/** `data`'s nesting: the object itself is depth 1. */
export const DATA_MAX_DEPTH = 8;
/** A phone number or zone as written; longer is not a number or a zone but a mistake. */
const SHORT_TEXT_MAX = 64;

/**
 * Why a text cannot be stored, or undefined: PostgreSQL refuses NUL in text and jsonb, and a lone
 * UTF-16 surrogate (half a character, from a broken encoder) cannot be stored as UTF-8.
 */
export function textProblem(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character';
  if (/[\uD800-\uDFFF]/u.test(value)) return 'contains broken Unicode (a lone surrogate)';
  return undefined;
}

/**
 * Where in a parsed JSON value (or a params / query object) a text cannot be stored, as a JSON
 * pointer with its reason; undefined when every key and string is fine. Iterative, so a value
 * thousands of levels deep is walked without a deep recursion.
 */
export function findBadText(value: unknown): { pointer: string; problem: string } | undefined {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length) {
    const [v, pointer] = stack.pop()!;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) return { pointer: pointer || '/', problem };
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, child] of Object.entries(v)) {
        const at = `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
        const problem = textProblem(k);
        if (problem) return { pointer: at, problem: `its name ${problem}` };
        stack.push([child, at]);
      }
    }
  }
  return undefined;
}

/** The zone's canonical IANA name (`europe/berlin` → `Europe/Berlin`), or null when it is none. */
export function canonicalZone(zone: string): string | null {
  if (zone.length > SHORT_TEXT_MAX || textProblem(zone)) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

/** Why `data` cannot be stored, or undefined: not an object, NUL in a key or value, too deep, too big. */
export function dataProblem(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'must be a JSON object';
  // iterative, so that a 5,000-deep value is refused without a deep recursion
  const stack: [unknown, number][] = [[data, 1]];
  while (stack.length) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'string') {
      const p = textProblem(value);
      if (p) return `a value ${p}`;
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth > DATA_MAX_DEPTH) return `is nested deeper than ${DATA_MAX_DEPTH} levels`;
    const entries = Array.isArray(value)
      ? value.map((v, i) => [String(i), v] as const)
      : Object.entries(value);
    for (const [k, v] of entries) {
      const p = textProblem(k);
      if (p) return `a key ${p}`;
      stack.push([v, depth + 1]);
    }
  }
  const bytes = Buffer.byteLength(JSON.stringify(data), 'utf8');
  if (bytes > DATA_MAX_BYTES) return `is ${bytes} bytes as JSON, more than ${DATA_MAX_BYTES}`;
  return undefined;
}

/** How a source names the checked fields in its messages (CSV columns, API properties). */
export interface FieldNames {
  phone: string;
  name: string;
  timeZone: string;
  redialTime: string;
  data: string;
}

export type ContactField = keyof FieldNames;

/** One problem with one field of a new contact; `message` starts with the source's name for it. */
export interface FieldProblem {
  field: ContactField;
  message: string;
}

/** A new contact as it arrives, before any check. */
export interface ContactInput {
  phone?: string;
  name?: string;
  timeZone?: string;
  redialTime?: string;
  data?: unknown;
}

export interface CheckedContact {
  /** E.164, null when the number was refused. */
  phone: string | null;
  name: string | null;
  /** The canonical IANA name. */
  zone: string | null;
  redial: Date | null;
  problems: FieldProblem[];
}

/**
 * One new contact's fields as the import and the API receive them, each problem named: the number
 * strict E.164, the name at most NAME_MAX characters, the zone an IANA zone (stored canonical),
 * the redial time one `parseTime` reads, `data` within its size and depth, no NUL anywhere.
 */
export function checkContactFields(
  f: ContactInput,
  names: FieldNames,
  defaultRegion: string,
  now?: Date,
): CheckedContact {
  const problems: FieldProblem[] = [];
  const shown = (v: string) =>
    JSON.stringify(v.length > SHORT_TEXT_MAX ? `${v.slice(0, SHORT_TEXT_MAX)}…` : v);
  const number = strictE164(f.phone, defaultRegion);
  if (number.problem !== undefined)
    problems.push({ field: 'phone', message: `${names.phone} ${shown(f.phone ?? '')} ${number.problem}` });
  let name: string | null = null;
  if (f.name) {
    const p =
      textProblem(f.name) ?? (f.name.length > NAME_MAX ? `is longer than ${NAME_MAX} characters` : undefined);
    if (p) problems.push({ field: 'name', message: `${names.name} ${p}` });
    else name = f.name;
  }
  let zone: string | null = null;
  if (f.timeZone) {
    zone = canonicalZone(f.timeZone);
    if (zone === null)
      problems.push({
        field: 'timeZone',
        message: `${names.timeZone} ${shown(f.timeZone)} is not an IANA time zone (e.g. Europe/Berlin)`,
      });
  }
  if (f.data !== undefined) {
    const p = dataProblem(f.data);
    if (p) problems.push({ field: 'data', message: `${names.data} ${p}` });
  }
  let redial: Date | null = null;
  if (f.redialTime) {
    try {
      redial = parseTime(f.redialTime, now);
    } catch (err) {
      problems.push({ field: 'redialTime', message: `${names.redialTime}: ${(err as Error).message}` });
    }
  }
  return { phone: number.e164 ?? null, name, zone, redial, problems };
}
