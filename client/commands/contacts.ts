import { type Command, InvalidArgumentError } from 'commander';
import { parseTime, pushRedial, releaseContact, resetContact } from '../../ops/contact-operations';
import fs from 'node:fs';
import type { Sql } from '../../db/client';
import { stringify } from 'csv-stringify/sync';
import {
  CONTACT_COLUMNS,
  type ContactRow,
  exportContacts,
  findContactState,
  listContacts,
} from '../../db/queries/contacts';
import { contactEvents, formatEvent } from '../../ops/contact-events';
import { importContacts } from '../../ops/contact-import';
import { recoverOrphans } from '../../ops/recovery';
import { spreadsheetPhone, spreadsheetText } from '../../domain/spreadsheet';
import { ContactSuccessful, lastStateName } from '../../domain/contract';
import { campaignWorkflowId, refillSignal } from '../../workflows/shared';
import { type CommandContext, UserError, type Ctx, operationDeps } from '../context';
import { withJsonOutput } from '../output';
import { campaignNameArg, durationArg, intArg } from '../parse';

function stateArg(v: string): number {
  const t = v.trim().toLowerCase();
  const named = Object.entries(ContactSuccessful).find(([n]) => n.toLowerCase() === t);
  if (named) return named[1];
  if (/^-?\d$/.test(t) && Number(t) >= -1 && Number(t) <= 3) return Number(t);
  throw new InvalidArgumentError(
    `"${v}" is not a ContactSuccessful value: -1..3 or Unreachable, NotUsed, Successful, NoSuccess, MarkedForDialing`,
  );
}

function timeArg(v: string): Date {
  try {
    return parseTime(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** The export's header: a contact's columns, LastState's name after its number. */
const EXPORT_COLUMNS = CONTACT_COLUMNS.flatMap((c) => (c === 'last_state' ? [c, 'last_state_name'] : [c]));

/** A `contacts <what> <id>` subcommand. */
function contactCommand(contacts: Command, what: string): Command {
  return contacts.command(what).argument('<id>', 'contact id', intArg(1));
}

/** A `contacts <what>` subcommand over the rows --campaign and --state pick (list, export). */
function filterCommand(contacts: Command, what: string): Command {
  return contacts
    .command(what)
    .option('--campaign <name>', 'only this campaign', campaignNameArg)
    .option('--state <cs>', 'only this ContactSuccessful (-1..3 or its name)', stateArg);
}

export function registerContactCommands(program: Command, ctx: Ctx): void {
  const contacts = program.command('contacts').description('look at contacts and move single contacts');
  registerList(contacts, ctx);
  registerWhy(contacts, ctx);
  registerImport(contacts, ctx);
  registerExport(contacts, ctx);
  registerRedial(contacts, ctx);
  registerRelease(contacts, ctx);
  registerReset(contacts, ctx);
  registerRecover(program, ctx);
}

function registerList(contacts: Command, ctx: Ctx): void {
  withJsonOutput(
    filterCommand(contacts, 'list')
      .description('list contacts, e.g. the Unreachable ones of a campaign for review')
      .option('--limit <n>', 'at most this many', intArg(1, 100_000), 100),
    (o: { campaign?: string; state?: number; limit: number }) => listContacts(ctx().db().sql, o),
    (rows) => {
      for (const r of rows) {
        console.log(
          [
            r.id,
            r.campaign_name ?? '—',
            r.phone_number ?? '—',
            `cs=${r.contact_successful}`,
            `last=${r.last_state ?? '—'}`,
            `attempts=${r.number_of_contacts}`,
            `redial=${r.redial_time ? r.redial_time.toISOString() : '—'}`,
          ].join('  '),
        );
      }
      console.error(`${rows.length} contact(s)`);
    },
  );
}

function registerWhy(contacts: Command, ctx: Ctx): void {
  withJsonOutput(
    contactCommand(contacts, 'why').description(
      'why a contact was or was not dialed: every decision about it, oldest first',
    ),
    async (id: number) => {
      const { sql } = ctx().db();
      const row = await findContactState(sql, id);
      if (!row) throw new UserError(`No contact with id ${id}`);
      return { row, events: await contactEvents(sql, id) };
    },
    ({ row, events }, id) => {
      console.log(
        `contact ${id} (${row.campaign_name ?? 'no campaign'}): contact_successful ${row.contact_successful}, ` +
          `last_state ${row.last_state === null ? '—' : (lastStateName(row.last_state) ?? row.last_state)}, ` +
          `${row.number_of_contacts} attempt(s), redial ${row.redial_time ? row.redial_time.toISOString() : '—'}`,
      );
      for (const e of events) console.log(`  ${formatEvent(e)}`);
      if (events.length === 0) console.log('  no decisions recorded yet (not taken into a campaign’s cache)');
    },
    { json: ({ events }, id) => ({ contactId: id, events }) },
  );
}

/** The import's progress on stderr: a bar on a terminal, a line every 10 000 rows otherwise. */
function importProgress(tty: boolean) {
  return (stage: 'read' | 'written', n: number, fraction: number) => {
    const pct = Math.round(fraction * 100);
    if (tty) {
      const bar = '#'.repeat(Math.round(fraction * 30)).padEnd(30, '.');
      process.stderr.write(`\r  ${stage === 'read' ? 'checking' : 'writing '} [${bar}] ${pct}%  ${n} rows`);
    } else if (n % 10_000 === 0) console.error(`  ${n} rows ${stage} (${pct}%)`);
  };
}

/** Running campaigns look at the table now instead of at their next refill (§8); returns those told. */
async function tellRunningCampaigns(c: CommandContext, names: string[]): Promise<string[]> {
  const told: string[] = [];
  for (const name of names) {
    try {
      const client = await c.temporal();
      const handle = client.workflow.getHandle(campaignWorkflowId(name));
      if ((await handle.describe()).status.name === 'RUNNING') {
        await handle.signal(refillSignal);
        told.push(name);
      }
    } catch {
      // not running (or Temporal unreachable): the campaign finds the rows when it starts
    }
  }
  return told;
}

function registerImport(contacts: Command, ctx: Ctx): void {
  const cmd = contacts
    .command('import')
    .description('import contacts from a CSV file; every row is checked first, all or nothing')
    .argument(
      '<file.csv>',
      'columns: phone_number, campaign_name, name, time_zone, redial_time; others go into data',
    )
    .option('--campaign <name>', 'the campaign of every row', campaignNameArg)
    .option('--skip-invalid', 'import the good rows even when some are bad');
  withJsonOutput(
    cmd,
    (file: string, o: { campaign?: string; skipInvalid?: boolean }) => runImport(ctx(), file, o),
    (r) => {
      const per = Object.entries(r.byCampaign).map(([name, n]) => `${n} into ${name}`);
      console.log(
        `${r.rows} rows: ${per.length ? per.join(', ') : 'nothing imported'}` +
          (r.bad.length ? `; ${r.bad.length} skipped as invalid` : ''),
      );
      if (r.refilled.length) console.log(`running campaign(s) told to look now: ${r.refilled.join(', ')}`);
    },
    { description: 'print the result as JSON', compact: true },
  );
}

/** Imports the file (a UserError when nothing was imported), then tells the running campaigns it fed. */
async function runImport(c: CommandContext, file: string, o: { campaign?: string; skipInvalid?: boolean }) {
  const tty = process.stderr.isTTY;
  const r = await importContacts(c.db().sql, file, {
    defaultRegion: c.cfg.defaultRegion,
    campaign: o.campaign,
    skipInvalid: o.skipInvalid,
    onProgress: importProgress(tty),
  });
  if (tty) process.stderr.write('\n');
  for (const b of r.bad) console.error(b.line ? `${file} line ${b.line}: ${b.message}` : b.message);
  if (!r.imported) {
    throw new UserError(
      r.rows === 0 && r.bad.length
        ? `${r.bad[0]!.message}; nothing imported`
        : `${r.bad.length} bad row(s) in ${file}; nothing imported (--skip-invalid imports the good rows)`,
    );
  }
  return { ...r, refilled: await tellRunningCampaigns(c, Object.keys(r.byCampaign)) };
}

/** A contact as an export line; `text` and `phone` guard cells against spreadsheets (or not, --raw). */
function exportLine(r: ContactRow, text: (v: string) => string, phone: (v: string) => string) {
  return [
    r.id,
    text(r.campaign_name ?? ''),
    phone(r.phone_number ?? ''),
    text(r.name ?? ''),
    text(r.time_zone ?? ''),
    r.contact_successful,
    r.last_state ?? '',
    r.last_state === null ? '' : (lastStateName(r.last_state) ?? String(r.last_state)),
    r.number_of_contacts,
    r.redial_time ? r.redial_time.toISOString() : '',
    text(JSON.stringify(r.data ?? {})),
  ];
}

interface ExportOpts {
  campaign?: string;
  state?: number;
  out?: string;
  raw?: boolean;
}

/** Writes the contacts as CSV, a thousand rows at a time, waiting whenever `out` is full; returns how many. */
async function writeExport(o: ExportOpts, sql: Sql, out: NodeJS.WritableStream) {
  const text = o.raw ? (v: string) => v : spreadsheetText;
  const phone = o.raw ? (v: string) => v : spreadsheetPhone;
  const write = (text: string) =>
    new Promise<void>((resolve, reject) => {
      if (out.write(text)) resolve();
      else out.once('drain', resolve).once('error', reject);
    });
  await write(stringify([EXPORT_COLUMNS]));
  let n = 0;
  for await (const rows of exportContacts(sql, o, 1000)) {
    await write(stringify(rows.map((r) => exportLine(r, text, phone))));
    n += rows.length;
  }
  return n;
}

function registerExport(contacts: Command, ctx: Ctx): void {
  filterCommand(contacts, 'export')
    .description('write contacts as CSV (to stdout, or --out)')
    .option('--out <file>', 'write to this file instead of stdout')
    .option(
      '--raw',
      "write every cell as it is (for programs; by default a text starting with = + - @ gets a leading ' so spreadsheets do not run it)",
    )
    .action(async (o: ExportOpts) => {
      const { sql } = ctx().db();
      const out = o.out ? fs.createWriteStream(o.out) : process.stdout;
      const n = await writeExport(o, sql, out);
      if (o.out) await new Promise<void>((resolve) => (out as fs.WriteStream).end(resolve));
      console.error(`${n} contact(s) exported${o.out ? ` to ${o.out}` : ''}`);
    });
}

function registerRedial(contacts: Command, ctx: Ctx): void {
  withJsonOutput(
    contactCommand(contacts, 'redial')
      .description('call this contact at a time (a cached contact’s timer moves; no second dial)')
      .requiredOption('--at <time>', 'ISO 8601 with a zone, "now", or +30m / +2h / +1d', timeArg),
    async (id: number, o: { at: Date }) => pushRedial(await operationDeps(ctx), id, o.at),
    (r, id) => console.log(`contact ${id}: redial at ${r.at} (${r.how}${r.reason ? `: ${r.reason}` : ''})`),
    { description: 'print the result as JSON', compact: true },
  );
}

function registerRelease(contacts: Command, ctx: Ctx): void {
  contactCommand(contacts, 'release')
    .description('pull a contact out of its running campaign’s cache, back to the value it had')
    .option('--hold <duration>', 'keep it out of every cache this long, to edit it', durationArg, 10 * 60_000)
    .action(async (id: number, o: { hold: number }) => {
      const r = await releaseContact(await operationDeps(ctx), id, o.hold);
      if (r.outcome === 'dialing')
        throw new UserError(`Contact ${id} is being dialed now; its outcome will be recorded as usual`);
      console.log(`contact ${id}: released; no campaign takes it again for ${Math.round(o.hold / 1000)} s`);
    });
}

function registerReset(contacts: Command, ctx: Ctx): void {
  contactCommand(contacts, 'reset')
    .description('put a reviewed contact (e.g. Unreachable) back into its campaign')
    .option('--at <time>', 'dial it at this time (else as a new contact)', timeArg)
    .option('--keep-attempts', 'keep number_of_contacts (default: back to 0)')
    .action(async (id: number, o: { at?: Date; keepAttempts?: boolean }) => {
      const r = await resetContact(await operationDeps(ctx), id, o);
      console.log(`contact ${id}: contact_successful = ${r.contactSuccessful}`);
    });
}

function registerRecover(program: Command, ctx: Ctx): void {
  withJsonOutput(
    program
      .command('recover')
      .description(
        'return contacts left at 3 by a crash (no live workflow holds them) to their earlier value',
      )
      .option('--campaign <name>', 'only this campaign’s contacts', campaignNameArg),
    async (o: { campaign?: string }) => {
      const d = await operationDeps(ctx);
      return recoverOrphans(d.sql, d.temporal, o.campaign ? { holder: campaignWorkflowId(o.campaign) } : {});
    },
    (r) =>
      console.log(
        `released ${r.released.length} contact(s)${r.released.length ? `: ${r.released.join(', ')}` : ''}; ${r.kept.length} still held by running workflows` +
          (r.unanswered?.length
            ? `\nno worker answered for ${r.unanswered.join(', ')}: their contacts are kept; start a worker or stop them, then run recover again`
            : ''),
      ),
    { compact: true },
  );
}
