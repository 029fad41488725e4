import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Sql, SqlOrTx, TxSql } from '../db/client';
import { campaignExists, campaignNames } from '../db/queries/campaigns';
import {
  type NewContactRow,
  contactsWithNumberSuffixes,
  insertContacts,
  lockCampaignContactWriters,
} from '../db/queries/contacts';
import { type FieldNames, checkContactFields, textProblem } from './contact-fields';
import { OperationError } from './errors';
import { CsvError, readCsv } from '../infra/csv';
import type { BadRow } from './dnc';
import { toE164 } from '../domain/phone';

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
  /** Check every row (the campaigns' numbers too) and write nothing. */
  checkOnly?: boolean;
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

const CSV_FIELDS: FieldNames = {
  phone: 'phone_number',
  name: 'name',
  timeZone: 'time_zone',
  redialTime: 'redial_time',
  data: 'the other columns (data)',
};

/**
 * Serialises the writers of these campaigns' contacts (the import, the API) until the transaction
 * ends, so that "this number is not in the campaign yet" still holds when the rows are written: two
 * CRM retries of one POST cannot both pass the check. Sorted, so that two writers never wait on
 * each other in opposite orders. Rows the CRM writes by SQL do not take it.
 */
export async function lockCampaignContacts(tx: TxSql, campaigns: string[]): Promise<void> {
  await lockCampaignContactWriters(tx, campaigns);
}

/** The key of a number in a campaign, for `existingNumbers`. */
export const numberKey = (campaign: string, e164: string) => `${campaign}\u0000${e164}`;

/**
 * The contacts these campaigns already have with these numbers, as `numberKey` → contact id. A
 * number counts as the CRM wrote it, normalised the same way; only rows whose last seven digits
 * match are read and normalised (every way of writing a number ends in its subscriber digits).
 */
export async function existingNumbers(
  sql: SqlOrTx,
  wanted: { campaign: string; phone: string }[],
  defaultRegion: string,
): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  if (!wanted.length) return found;
  const want = new Set(wanted.map((w) => numberKey(w.campaign, w.phone)));
  const campaigns = [...new Set(wanted.map((w) => w.campaign))];
  const suffixes = [...new Set(wanted.map((w) => w.phone.replace(/\D/g, '').slice(-7)))];
  const rows = await contactsWithNumberSuffixes(sql, campaigns, suffixes);
  for (const r of rows) {
    const e164 = toE164(r.phone_number, defaultRegion);
    const key = e164 === null ? null : numberKey(r.campaign_name, e164);
    if (key !== null && want.has(key) && !found.has(key)) found.set(key, Number(r.id));
  }
  return found;
}

interface Row extends NewContactRow {
  line: number;
  data: Record<string, string>;
}

/** One record's row, or its problems (each naming its column). */
function checkRecord(
  line: number,
  fields: Record<string, string>,
  campaigns: Set<string>,
  o: ImportOptions,
): { row: Row; problems?: undefined } | { row?: undefined; problems: string[] } {
  const problems: string[] = [];
  const column = fields.campaign_name || undefined;
  const campaign = o.campaign ?? column;
  if (campaign === undefined) problems.push('no campaign_name (or give --campaign)');
  else if (o.campaign !== undefined && column !== undefined && column !== o.campaign)
    problems.push(`campaign_name "${column}" is not the --campaign "${o.campaign}"`);
  else if (!campaigns.has(campaign)) problems.push(`unknown campaign "${campaign}"`);
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (k !== 'phone_number' && !(KNOWN as readonly string[]).includes(k) && v !== '') data[k] = v;
  }
  const checked = checkContactFields(
    {
      phone: fields.phone_number,
      name: fields.name,
      timeZone: fields.time_zone,
      redialTime: fields.redial_time,
      data,
    },
    CSV_FIELDS,
    o.defaultRegion,
    o.now,
  );
  problems.push(...checked.problems.map((p) => p.message));
  if (problems.length) return { problems };
  const { phone, name, zone, redial } = checked;
  return {
    row: {
      line,
      campaign_name: campaign!,
      phone_number: phone!,
      name,
      time_zone: zone,
      redial_time: redial,
      contact_successful: redial ? 2 : 0,
      data,
    },
  };
}

/** Every record of the file checked: the good rows, and each bad one by line (a number twice too). */
async function readContacts(
  file: string,
  campaigns: Set<string>,
  o: ImportOptions,
): Promise<{ rows: number; good: Row[]; bad: BadRow[] }> {
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
    const checked = error === undefined ? checkRecord(line, fields, campaigns, o) : { problems: [error] };
    const problems = checked.problems ?? [];
    const row = checked.row;
    if (row) {
      const key = numberKey(row.campaign_name, row.phone_number);
      const earlier = firstSeen.get(key);
      if (earlier !== undefined)
        problems.push(
          `${row.phone_number} is already on line ${earlier} for campaign "${row.campaign_name}"`,
        );
      else firstSeen.set(key, line);
    }
    if (problems.length) bad.push({ line, message: problems.join('; ') });
    else good.push(row!);
  }
  o.onProgress?.('read', rows, 1);
  return { rows, good, bad };
}

export async function importContacts(sql: Sql, file: string, o: ImportOptions): Promise<ImportResult> {
  const campaigns = new Set(await campaignNames(sql));
  if (o.campaign !== undefined && !campaigns.has(o.campaign)) {
    return {
      rows: 0,
      bad: [{ line: 0, message: `Unknown campaign "${o.campaign}"` }],
      imported: false,
      byCampaign: {},
    };
  }
  const { rows, good, bad } = await readContacts(file, campaigns, o);
  // under the campaigns' lock: a number the campaign already has is a duplicate, and stays one
  return sql.begin(async (tx) => {
    await lockCampaignContacts(
      tx,
      good.map((g) => g.campaign_name),
    );
    const existing = await existingNumbers(
      tx,
      good.map((g) => ({ campaign: g.campaign_name, phone: g.phone_number })),
      o.defaultRegion,
    );
    const fresh = good.filter((g) => {
      const id = existing.get(numberKey(g.campaign_name, g.phone_number));
      if (id === undefined) return true;
      bad.push({
        line: g.line,
        message: `${g.phone_number} is already in campaign "${g.campaign_name}" (contact ${id})`,
      });
      return false;
    });
    bad.sort((a, b) => a.line - b.line);
    if (o.checkOnly || (bad.length && !o.skipInvalid)) return { rows, bad, imported: false, byCampaign: {} };
    return { rows, bad, imported: true, byCampaign: await writeContacts(tx, fresh, o) };
  });
}

/**
 * The import of a CSV given as text (the console's form): the same checks and the same all-or-nothing
 * write as the file's, through a file of its own (mode 0600, removed at once). A header the reader
 * refuses is an OperationError.
 */
export async function importContactsText(sql: Sql, text: string, o: ImportOptions): Promise<ImportResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dialer-import-'));
  const file = path.join(dir, 'contacts.csv');
  try {
    fs.writeFileSync(file, text, { mode: 0o600 });
    return await importContacts(sql, file, o);
  } catch (err) {
    if (err instanceof CsvError) throw new OperationError('invalid', err.message.split(file).join('The CSV'));
    throw err;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The campaigns contacts can be imported into, by name. */
export const importableCampaigns = (sql: Sql) => campaignNames(sql);

async function writeContacts(tx: TxSql, good: Row[], o: ImportOptions): Promise<Record<string, number>> {
  const byCampaign: Record<string, number> = {};
  for (let i = 0; i < good.length; i += 1000) {
    const chunk = good.slice(i, i + 1000).map(({ line: _line, ...r }) => r);
    await insertContacts(tx, chunk);
    for (const r of chunk) byCampaign[r.campaign_name] = (byCampaign[r.campaign_name] ?? 0) + 1;
    const written = Math.min(i + 1000, good.length);
    o.onProgress?.('written', written, written / good.length);
  }
  return byCampaign;
}

/** A request's problems, all of them: `field` is the first's, `problems` names every one. */
export class ContactProblems extends OperationError {
  constructor(
    kind: OperationError['kind'],
    what: string,
    /** Every problem, in the shape of a problem document's `errors`. */
    readonly errors: { field: string; detail: string }[],
  ) {
    const shown = errors.slice(0, 20).map((p) => `${p.field}: ${p.detail}`);
    const more = errors.length > 20 ? `; and ${errors.length - 20} more` : '';
    super(kind, `${what}: ${shown.join('; ')}${more}`, errors[0]?.field);
  }
}

/** A contact as the API receives it. */
export interface NewContact {
  phoneNumber: string;
  name?: string;
  timeZone?: string;
  redialTime?: string;
  data?: Record<string, unknown>;
}

export interface AddContactsRequest {
  campaign: string;
  contacts: NewContact[];
  /** Add a number the campaign (or the request) already has: a CRM's decision, made explicit. */
  allowDuplicateNumber?: boolean;
}

const API_FIELDS: FieldNames = {
  phone: 'phoneNumber',
  name: 'name',
  timeZone: 'timeZone',
  redialTime: 'redialTime',
  data: 'data',
};

/** The API's rows, or every problem with a JSON pointer to its field (`/contacts/3/phoneNumber`). */
function checkNewContacts(req: AddContactsRequest, defaultRegion: string, now: Date) {
  const problems: { field: string; detail: string }[] = [];
  const campaignProblem = textProblem(req.campaign);
  if (campaignProblem) problems.push({ field: '/campaign', detail: `campaign ${campaignProblem}` });
  const rows = req.contacts.map((c, i) => {
    const checked = checkContactFields(
      { phone: c.phoneNumber, name: c.name, timeZone: c.timeZone, redialTime: c.redialTime, data: c.data },
      API_FIELDS,
      defaultRegion,
      now,
    );
    for (const p of checked.problems)
      problems.push({ field: `/contacts/${i}/${API_FIELDS[p.field]}`, detail: p.message });
    return {
      campaign_name: req.campaign,
      phone_number: checked.phone ?? '',
      name: checked.name,
      time_zone: checked.zone,
      redial_time: checked.redial,
      contact_successful: checked.redial ? 2 : 0,
      data: c.data ?? {},
    };
  });
  if (problems.length)
    throw new ContactProblems(
      'invalid',
      `${problems.length} problem(s) in the request; nothing was added`,
      problems,
    );
  return rows;
}

/** Numbers given twice in one request, or already in the campaign: each named, with the contact it repeats. */
async function duplicateNumbers(
  tx: TxSql,
  campaign: string,
  phones: string[],
  defaultRegion: string,
): Promise<{ field: string; detail: string }[]> {
  const duplicates: { field: string; detail: string }[] = [];
  const first = new Map<string, number>();
  const existing = await existingNumbers(
    tx,
    phones.map((phone) => ({ campaign, phone })),
    defaultRegion,
  );
  phones.forEach((phone, i) => {
    const field = `/contacts/${i}/phoneNumber`;
    const id = existing.get(numberKey(campaign, phone));
    const earlier = first.get(phone);
    if (id !== undefined)
      duplicates.push({ field, detail: `${phone} is already in campaign "${campaign}" (contact ${id})` });
    else if (earlier !== undefined)
      duplicates.push({ field, detail: `${phone} is already at /contacts/${earlier} of this request` });
    if (earlier === undefined) first.set(phone, i);
  });
  return duplicates;
}

/**
 * POST /api/contacts: adds contacts to a campaign, all or nothing. Every field is checked first
 * (the import's rules); a number the campaign already has, or one given twice, is a conflict
 * naming the contact it repeats, unless `allowDuplicateNumber`. The check and the insert run
 * under the campaign's lock, so parallel retries of one request cannot both add a number.
 */
export async function addContacts(
  sql: Sql,
  req: AddContactsRequest,
  defaultRegion: string,
  now = new Date(),
): Promise<{ ids: number[] }> {
  const rows = checkNewContacts(req, defaultRegion, now);
  return sql.begin(async (tx) => {
    if (!(await campaignExists(tx, req.campaign)))
      throw new OperationError('not-found', `Unknown campaign "${req.campaign}"`, '/campaign');
    await lockCampaignContacts(tx, [req.campaign]);
    if (!req.allowDuplicateNumber) {
      const duplicates = await duplicateNumbers(
        tx,
        req.campaign,
        rows.map((r) => r.phone_number),
        defaultRegion,
      );
      if (duplicates.length) {
        throw new ContactProblems(
          'conflict',
          `${duplicates.length} number(s) already in the campaign or the request; nothing was added (send "allowDuplicateNumber": true to add them anyway)`,
          duplicates,
        );
      }
    }
    return { ids: await insertContacts(tx, rows) };
  });
}
