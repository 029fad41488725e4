import { Command, CommanderError } from 'commander';
import { ConfigError, config } from '../infra/config';
import { OperationError } from '../ops/errors';
import { CsvError } from '../infra/csv';
import { TemporalSetupError } from '../infra/temporal-server';
import { unavailableDependency } from '../infra/unavailable';
import { registerAgentCommands } from './commands/agents';
import { registerCampaignCommands } from './commands/campaign';
import { registerContactCommands } from './commands/contacts';
import { registerDbCommands } from './commands/db';
import { registerDemoCommand } from './commands/demo';
import { registerDncCommands } from './commands/dnc';
import { registerReplayCommand } from './commands/replay';
import { registerServiceCommands } from './commands/services';
import { CommandContext, UserError } from './context';

export function buildProgram(): { program: Command; close: () => Promise<void> } {
  let context: CommandContext | undefined;
  const ctx = () => (context ??= new CommandContext());
  const program = new Command('dialer')
    .description('Outbound call-campaign dialer on Temporal, PostgreSQL and Twilio')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerDbCommands(program, ctx);
  registerCampaignCommands(program, ctx);
  registerContactCommands(program, ctx);
  registerAgentCommands(program, ctx);
  registerDncCommands(program, ctx);
  registerServiceCommands(program, ctx);
  registerReplayCommand(program, ctx);
  registerDemoCommand(program, ctx);
  return { program, close: async () => context?.close() };
}

export async function main(argv: string[]): Promise<number> {
  const { program, close } = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed it
    const e = err as { code?: string; address?: string; port?: number };
    if (e.code === 'ECONNREFUSED' && e.port !== undefined) {
      const cfg = config();
      const embedded = cfg.embeddedDatabase?.port === e.port;
      console.error(
        `error: nothing answers at ${e.address ?? '127.0.0.1'}:${e.port}` +
          (embedded
            ? ' (the embedded database): DATABASE_URL is unset, so start `dialer dev` (it serves the embedded PostgreSQL) or set DATABASE_URL.'
            : '.'),
      );
      return 1;
    }
    // a dependency down or past its deadline: said plainly, without a stack (exit 1: try again)
    const down = unavailableDependency(err);
    if (down) {
      const what = down === 'database' ? 'the database' : `Temporal at ${config().temporal.address}`;
      console.error(`error: ${what} is unavailable or did not answer in time (${(err as Error).message}).`);
      return 1;
    }
    // the user's to fix: said plainly, without a stack
    if (
      err instanceof UserError ||
      err instanceof OperationError ||
      err instanceof CsvError ||
      err instanceof ConfigError ||
      err instanceof TemporalSetupError
    ) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    console.error(err);
    return 2;
  } finally {
    await close();
  }
}

if (require.main === module) {
  main(process.argv).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(2);
    },
  );
}
