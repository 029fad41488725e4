import type { Client, Connection } from '@temporalio/client';
import { CLI_DEADLINES, connectDatabase, type Database } from '../db/client';
import { config, type Config } from '../infra/config';
import { maskUrlPassword } from '../infra/secrets';
import { connectTemporal, temporalClient } from '../infra/temporal-connection';

/** A command's Temporal calls (start, signal, query) give up after this; long polls (--wait) after 70 s each. */
const CLI_CALL_MS = 10_000;

/** What a command needs, opened lazily and closed once at the end of the process. */
export class CommandContext {
  private database?: Database;
  private connection?: Connection;
  private client?: Client;

  constructor(readonly cfg: Config = config()) {}

  db(): Database {
    this.database ??= connectDatabase(this.cfg.databaseUrl, { max: 2, deadlines: CLI_DEADLINES });
    return this.database;
  }

  async temporal(): Promise<Client> {
    if (!this.client) {
      try {
        // every call has a deadline: a frozen server fails a command instead of hanging it
        this.connection = await connectTemporal(this.cfg.temporal.address, { callMs: CLI_CALL_MS });
      } catch (err) {
        throw new UserError(
          `Cannot reach Temporal at ${maskUrlPassword(this.cfg.temporal.address)} (${(err as Error).message}). ` +
            'Start one with `npm run --silent dialer -- dev` or `dialer temporal start`, or set TEMPORAL_ADDRESS.',
        );
      }
      this.client = temporalClient(this.connection, this.cfg);
    }
    return this.client;
  }

  async close(): Promise<void> {
    await this.connection?.close();
    await this.database?.close();
  }
}

/** A command module's way to its context, opened on first use. */
export type Ctx = () => CommandContext;

/** What the contact and preview operations need: the database and Temporal. */
export const operationDeps = async (ctx: Ctx) => ({ sql: ctx().db().sql, temporal: await ctx().temporal() });

/** A mistake the user can fix: printed without a stack trace, exit code 1. */
export class UserError extends Error {
  override name = 'UserError';
}
