import fs from 'node:fs';
import type postgres from 'postgres';
import { parseTime } from './contact-operations';
import { readCsv } from './csv';
import type { BadRow } from './dnc';
import { toE164 } from './phone';

/**
 * `contacts import`: a CSV of contacts for one or more campaigns. Every row is checked before
 * anything is written; with any bad row nothing is imported unless `skipInvalid`.
 *
 * Columns: phone_number (required), campaign_name (or --campaign), name, time_zone (IANA),
 * redial_time (ISO 8601 with a zone: the contact is then a redial, contact_successful 2). Any
 * other column goes into the contact's `data`.
 */
export interface ImportOptions {
  defaultRegion: string;
  /** Every row's campaign; a campaign_name column must then agree with it. */
  campaign?: string;
  skipInvalid?: boolean;
  /** `fraction` of the file read, or of the good rows written. */
  onProgress?: (stage: 'read' | 'written', rows: number, fraction: number) => void;
  now?: Date;
}

export interface ImportResult {
  rows: number;
  bad: BadRow[];
  imported: boolean;
  /** Contacts written, per campaign. */
  byCampaign: Record<string, number>;
}

const KNOWN = ['campaign_name', 'name', 'time_zone', 'redial_time'] as const;

/** How a source names the checked fields in its messages (CSV columns, API properties). */
export interface FieldNames {
  phone: string;
  timeZone: string;
  redialTime: string;
}
const CSV_FIELDS: FieldNames = { phone: 'phone_number', timeZone: 'time_zone', redialTime: 'redial_time' };

/**
 * One new contact's number, zone and redial time, as the import and the API receive them: the
 * number in E.164, the zone an IANA name, the time one `parseTime` reads; each problem named.
 */
export function checkContactFields(
  f: { phone?: string; timeZone?: string; redialTime?: string },
  names: FieldNames,
  defaultRegion: string,
  now?: Date,
): { phone: string | null; zone: string | null; redial: Date | null; problems: string[] } {
  const problems: string[] = [];
  const phone = toE164(f.phone, defaultRegion);
  if (phone === null) problems.push(`${names.phone} ${JSON.stringify(f.phone ?? '')} is not a phone number`);
  const zone = f.timeZone || null;
  if (zone !== null && !validZone(zone))
    problems.push(`${names.timeZone} "${zone}" is not an IANA time zone (e.g. Europe/Berlin)`);
  let redial: Date | null = null;
  if (f.redialTime) {
    try {
      redial = parseTime(f.redialTime, now);
    } catch (err) {
      problems.push(`${names.redialTime}: ${(err as Error).message}`);
    }
  }
  return { phone, zone, redial, problems };
}

function validZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

interface Row {
  line: number;
  campaign_name: string;
  phone_number: string;
  name: string | null;
  time_zone: string | null;
  redial_time: Date | null;
  contact_successful: number;
  data: Record<string, string>;
}

export async function importContacts(
  sql: postgres.Sql,
  file: string,
  o: ImportOptions,
): Promise<ImportResult> {
  const campaigns = new Set((await sql<{ name: string }[]>`select name from campaigns`).map((r) => r.name));
  if (o.campaign !== undefined && !campaigns.has(o.campaign)) {
    return {
      rows: 0,
      bad: [{ line: 0, message: `Unknown campaign "${o.campaign}"` }],
      imported: false,
      byCampaign: {},
    };
  }
  const good: Row[] = [];
  const bad: BadRow[] = [];
  const firstSeen = new Map<string, number>();
  let rows = 0;
  const size = fs.existsSync(file) ? fs.statSync(file).size || 1 : 1;
  for await (const { line, bytes, fields, error } of readCsv(file, {
    required: ['phone_number'],
    optional: KNOWN,
    allowUnknown: true,
  })) {
    rows++;
    if (rows % 1000 === 0) o.onProgress?.('read', rows, Math.min(1, bytes / size));
    if (error !== undefined) {
      bad.push({ line, message: error });
      continue;
    }
    const problems: string[] = [];
    const column = fields.campaign_name || undefined;
    const campaign = o.campaign ?? column;
    if (campaign === undefined) problems.push('no campaign_name (or give --campaign)');
    else if (o.campaign !== undefined && column !== undefined && column !== o.campaign)
      problems.push(`campaign_name "${column}" is not the --campaign "${o.campaign}"`);
    else if (!campaigns.has(campaign)) problems.push(`unknown campaign "${campaign}"`);
    const checked = checkContactFields(
      { phone: fields.phone_number, timeZone: fields.time_zone, redialTime: fields.redial_time },
      CSV_FIELDS,
      o.defaultRegion,
      o.now,
    );
    problems.push(...checked.problems);
    const { phone, zone, redial } = checked;
    if (phone !== null && campaign !== undefined) {
      const key = `${campaign}\u0000${phone}`;
      const earlier = firstSeen.get(key);
      if (earlier !== undefined)
        problems.push(`${phone} is already on line ${earlier} for campaign "${campaign}"`);
      else firstSeen.set(key, line);
    }
    if (problems.length) {
      bad.push({ line, message: problems.join('; ') });
      continue;
    }
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(fields)) {
      if (k !== 'phone_number' && !(KNOWN as readonly string[]).includes(k) && v !== '') data[k] = v;
    }
    good.push({
      line,
      campaign_name: campaign!,
      phone_number: phone!,
      name: fields.name || null,
      time_zone: zone,
      redial_time: redial,
      contact_successful: redial ? 2 : 0,
      data,
    });
  }
  o.onProgress?.('read', rows, 1);

  // a number the campaign already has (as the CRM wrote it, normalised the same way) is a duplicate
  const involved = [...new Set(good.map((g) => g.campaign_name))];
  if (involved.length) {
    const existing = new Map<string, number>();
    const current = await sql<{ id: string; campaign_name: string; phone_number: string | null }[]>`
      select id, campaign_name, phone_number from contacts where campaign_name = any(${involved})`;
    for (const r of current) {
      const e164 = toE164(r.phone_number, o.defaultRegion);
      if (e164) existing.set(`${r.campaign_name}\u0000${e164}`, Number(r.id));
    }
    for (let i = good.length - 1; i >= 0; i--) {
      const g = good[i]!;
      const id = existing.get(`${g.campaign_name}\u0000${g.phone_number}`);
      if (id !== undefined) {
        bad.push({
          line: g.line,
          message: `${g.phone_number} is already in campaign "${g.campaign_name}" (contact ${id})`,
        });
        good.splice(i, 1);
      }
    }
  }
  bad.sort((a, b) => a.line - b.line);
  if (bad.length && !o.skipInvalid) return { rows, bad, imported: false, byCampaign: {} };

  const byCampaign: Record<string, number> = {};
  await sql.begin(async (tx) => {
    for (let i = 0; i < good.length; i += 1000) {
      const chunk = good.slice(i, i + 1000).map(({ line: _line, ...r }) => ({ ...r, data: tx.json(r.data) }));
      await tx`insert into contacts ${tx(chunk)}`;
      for (const r of chunk) byCampaign[r.campaign_name] = (byCampaign[r.campaign_name] ?? 0) + 1;
      const written = Math.min(i + 1000, good.length);
      o.onProgress?.('written', written, written / good.length);
    }
  });
  return { rows, bad, imported: true, byCampaign };
}
