import type { Command } from 'commander';
import { addToDnc, importDnc, listDnc, normaliseAll, removeFromDnc } from '../../ops/dnc';
import { type CommandContext, UserError, type Ctx } from '../context';
import { withJsonOutput } from '../output';

export function registerDncCommands(program: Command, ctx: Ctx): void {
  const dnc = program
    .command('dnc')
    .description('the do-not-call list: checked right before every call, callbacks and redials included');
  registerAdd(dnc, ctx);
  registerRemove(dnc, ctx);
  registerList(dnc, ctx);
  registerImport(dnc, ctx);
}

function registerAdd(dnc: Command, ctx: Ctx): void {
  dnc
    .command('add')
    .description('put numbers on the list (normalised to E.164; DEFAULT_REGION for national numbers)')
    .argument('<numbers...>', 'phone numbers')
    .option('--reason <text>', 'why (kept with the number)')
    .action(async (numbers: string[], o: { reason?: string }) => {
      const c = ctx();
      const r = await addToDnc(c.db().sql, normaliseAll(numbers, c.cfg.defaultRegion), o.reason ?? null);
      console.log(`${r.added} added, ${r.alreadyListed} already on the list`);
    });
}

function registerRemove(dnc: Command, ctx: Ctx): void {
  dnc
    .command('remove')
    .description('take numbers off the list')
    .argument('<numbers...>', 'phone numbers')
    .action(async (numbers: string[]) => {
      const c = ctx();
      const r = await removeFromDnc(c.db().sql, normaliseAll(numbers, c.cfg.defaultRegion));
      for (const n of r.notListed) console.error(`${n} was not on the list`);
      console.log(`${r.removed.length} removed`);
    });
}

function registerList(dnc: Command, ctx: Ctx): void {
  withJsonOutput(
    dnc.command('list').description('list the numbers on the list'),
    () => listDnc(ctx().db().sql),
    (rows) => {
      for (const r of rows) console.log([r.phoneNumber, r.createdAt, r.reason ?? ''].join('  ').trimEnd());
      console.error(`${rows.length} number(s)`);
    },
  );
}

function registerImport(dnc: Command, ctx: Ctx): void {
  const cmd = dnc
    .command('import')
    .description('import a CSV with a phone_number column (and optionally reason); all or nothing')
    .argument('<file.csv>', 'the file; the first row names the columns')
    .option('--reason <text>', 'reason for rows that give none')
    .option('--skip-invalid', 'import the good rows even when some are bad');
  withJsonOutput(
    cmd,
    (file: string, o: { reason?: string; skipInvalid?: boolean }) => runImport(ctx(), file, o),
    (r) =>
      console.log(
        `${r.rows} rows: ${r.added} added, ${r.alreadyListed} already on the list, ${r.bad.length} skipped as invalid`,
      ),
    { description: 'print the result as JSON', compact: true },
  );
}

/** Imports the file, with progress and bad rows on stderr; a UserError when nothing was imported. */
async function runImport(c: CommandContext, file: string, o: { reason?: string; skipInvalid?: boolean }) {
  const progress = process.stderr.isTTY
    ? (n: number) => process.stderr.write(`\r  ${n} rows read`)
    : (n: number) => n % 10_000 === 0 && console.error(`  ${n} rows read`);
  const r = await importDnc(c.db().sql, file, {
    defaultRegion: c.cfg.defaultRegion,
    reason: o.reason ?? null,
    skipInvalid: o.skipInvalid,
    onProgress: progress,
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  for (const b of r.bad) console.error(`${file} line ${b.line}: ${b.message}`);
  if (!r.imported) {
    throw new UserError(
      `${r.bad.length} bad row(s) in ${file}; nothing imported (--skip-invalid imports the good rows)`,
    );
  }
  return r;
}
