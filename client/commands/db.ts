import type { Command } from 'commander';
import { ensureDatabase, migrateDatabase } from '../../db/migrate';
import type { CommandContext } from '../context';

export function registerDbCommands(program: Command, ctx: () => CommandContext): void {
  const db = program.command('db').description('the contacts database');
  db.command('migrate')
    .description('create the database if it is missing and apply the migrations')
    .action(async () => {
      const url = ctx().cfg.databaseUrl;
      const where = new URL(url);
      const created = await ensureDatabase(url);
      await migrateDatabase(url);
      console.log(
        `${created ? 'created and ' : ''}migrated database ${where.pathname.slice(1)} on ${where.host}`,
      );
    });
}
