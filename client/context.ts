import { Client, Connection } from '@temporalio/client';
import { connectDatabase, type Database } from '../db/client';
import { config, type Config } from '../lib/config';

/** What a command needs, opened lazily and closed once at the end of the process. */
export class CommandContext {
  private database?: Database;
  private connection?: Connection;
  private client?: Client;

  constructor(readonly cfg: Config = config()) {}

  db(): Database {
    this.database ??= connectDatabase(this.cfg.databaseUrl, { max: 2 });
    return this.database;
  }

  async temporal(): Promise<Client> {
    if (!this.client) {
      try {
        this.connection = await Connection.connect({
          address: this.cfg.temporal.address,
          connectTimeout: 5000,
        });
      } catch (err) {
        throw new UserError(
          `Cannot reach Temporal at ${this.cfg.temporal.address} (${(err as Error).message}). ` +
            'Start one with `npm run --silent dialer -- dev` or `dialer temporal start`, or set TEMPORAL_ADDRESS.',
        );
      }
      this.client = new Client({ connection: this.connection, namespace: this.cfg.temporal.namespace });
    }
    return this.client;
  }

  async close(): Promise<void> {
    await this.connection?.close();
    await this.database?.close();
  }
}

/** A mistake the user can fix: printed without a stack trace, exit code 1. */
export class UserError extends Error {
  override name = 'UserError';
}
