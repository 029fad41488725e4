import type { Sql } from '../db/client';
import { bannedNumberRows, deleteBannedNumbers, insertBannedNumbers } from '../db/queries/banned-numbers';
import { OperationError } from './errors';
import { readCsv } from '../infra/csv';
import { toE164 } from '../domain/phone';

/**
 * The do-not-call list (`banned_numbers`), in E.164. The placing step checks it right before every
 * create, so a number added while its contact is cached or waiting for a redial ends as Banned
 * (1000) and never reaches Twilio.
 */
export interface DncEntry {
  phoneNumber: string;
  reason: string | null;
  createdAt: string;
}

export interface BadRow {
  line: number;
  message: string;
}

/** Normalises every number or refuses them all, naming each bad one. */
export function normaliseAll(raw: string[], defaultRegion: string): string[] {
  const bad = raw.filter((r) => toE164(r, defaultRegion) === null);
  if (bad.length) {
    throw new OperationError(
      'invalid',
      `not a phone number${bad.length > 1 ? 's' : ''}: ${bad.map((b) => JSON.stringify(b)).join(', ')}; nothing changed`,
    );
  }
  return raw.map((r) => toE164(r, defaultRegion)!);
}

/** Adds numbers (already listed ones keep their reason); returns how many were new. */
export async function addToDnc(
  sql: Sql,
  numbers: string[],
  reason: string | null,
): Promise<{ added: number; alreadyListed: number }> {
  const unique = [...new Set(numbers)];
  if (unique.length === 0) return { added: 0, alreadyListed: 0 };
  const rows = unique.map((phone_number) => ({ phone_number, reason }));
  const added = await insertBannedNumbers(sql, rows);
  return { added, alreadyListed: unique.length - added };
}

export async function removeFromDnc(
  sql: Sql,
  numbers: string[],
): Promise<{ removed: string[]; notListed: string[] }> {
  const unique = [...new Set(numbers)];
  const removed = await deleteBannedNumbers(sql, unique);
  return { removed, notListed: unique.filter((n) => !removed.includes(n)) };
}

export async function listDnc(sql: Sql): Promise<DncEntry[]> {
  const rows = await bannedNumberRows(sql);
  return rows.map((r) => ({
    phoneNumber: r.phone_number,
    reason: r.reason,
    createdAt: r.created_at.toISOString(),
  }));
}

/**
 * Imports a CSV with a `phone_number` column (and optionally `reason`). Every row is checked
 * first; with any bad row nothing is imported unless `skipInvalid`, and every bad row is reported
 * with its line number.
 */
export async function importDnc(
  sql: Sql,
  file: string,
  o: {
    defaultRegion: string;
    reason?: string | null;
    skipInvalid?: boolean;
    onProgress?: (rows: number) => void;
  },
): Promise<{ rows: number; added: number; alreadyListed: number; bad: BadRow[]; imported: boolean }> {
  const good: { phone_number: string; reason: string | null }[] = [];
  const bad: BadRow[] = [];
  let rows = 0;
  for await (const { line, fields, error } of readCsv(file, {
    required: ['phone_number'],
    optional: ['reason'],
  })) {
    rows++;
    if (rows % 1000 === 0) o.onProgress?.(rows);
    if (error !== undefined) {
      bad.push({ line, message: error });
      continue;
    }
    const e164 = toE164(fields.phone_number, o.defaultRegion);
    if (e164 === null) {
      bad.push({
        line,
        message: `phone_number ${JSON.stringify(fields.phone_number ?? '')} is not a phone number`,
      });
      continue;
    }
    good.push({ phone_number: e164, reason: fields.reason || o.reason || null });
  }
  o.onProgress?.(rows);
  if (bad.length && !o.skipInvalid) return { rows, added: 0, alreadyListed: 0, bad, imported: false };
  let added = 0;
  const seen = new Set<string>();
  const unique = good.filter((g) => !seen.has(g.phone_number) && seen.add(g.phone_number));
  await sql.begin(async (tx) => {
    for (let i = 0; i < unique.length; i += 1000)
      added += await insertBannedNumbers(tx, unique.slice(i, i + 1000));
  });
  return { rows, added, alreadyListed: unique.length - added, bad, imported: true };
}

/**
 * A list pasted one number per line (the console's): every line checked first, and with any line
 * that is not a number nothing is added and each such line is named by its number (empty lines
 * are skipped). All good: every number added, those already listed keeping their reason.
 */
export async function addDncLines(
  sql: Sql,
  text: string,
  o: { defaultRegion: string; reason: string | null },
): Promise<{ rows: number; added: number; alreadyListed: number; bad: BadRow[]; imported: boolean }> {
  const good: string[] = [];
  const bad: BadRow[] = [];
  let rows = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim();
    if (t === '') return;
    rows++;
    const e164 = toE164(t, o.defaultRegion);
    if (e164 === null) bad.push({ line: i + 1, message: `${JSON.stringify(t)} is not a phone number` });
    else good.push(e164);
  });
  if (bad.length || rows === 0) return { rows, added: 0, alreadyListed: 0, bad, imported: false };
  return { rows, ...(await addToDnc(sql, good, o.reason)), bad, imported: true };
}
