/**
 * npm run chaos -- [--engine dev|postgres] [--contacts 1000] [--faults 100] [--seed N] [--workers 2]
 *                  [--fault-gap 1500] [--database-url postgres://…/dialer_chaos]
 *                  [--temporal-database-url postgres://…/temporal_chaos] [--keep-temporal-databases]
 *                  [--settle-timeout 600|contacts] [--sample-every 30] [--out report.json]
 *
 * Exits 0 when every invariant held, 1 when one was violated (the report names the contacts),
 * 2 when the run itself could not be carried out.
 */
import fs from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { type ChaosEngine, describeFaultKinds, ENGINES } from './plan';
import { formatReport, runChaos } from './run';

const int = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be a whole number ≥ ${min}`);
  return n;
};

const program = new Command('chaos')
  .description('a seeded fault-injection run on the real stack, checked against the contract')
  .addOption(
    new Option(
      '--engine <engine>',
      'the Temporal server: dev (the CLI dev server on a file) or postgres (temporal-server on PostgreSQL)',
    )
      .choices(ENGINES)
      .default('dev'),
  )
  .option('--contacts <n>', 'contacts in the campaign', int(1), 1000)
  .option('--faults <n>', 'faults to inject', int(0), 100)
  .option('--seed <n>', 'seed of the contacts, outcomes and fault schedule (default: random)', int(0))
  .option('--workers <n>', 'worker processes', int(1), 2)
  .option('--fault-gap <ms>', 'mean gap between faults', int(50), 1500)
  .option(
    '--database-url <url>',
    'the PostgreSQL database the run fills (created and migrated)',
    process.env.CHAOS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/dialer_chaos',
  )
  .option(
    '--temporal-database-url <url>',
    "postgres engine: the PostgreSQL server of Temporal's two databases, the path their names' stem " +
      '(default: the server of --database-url, temporal_chaos); the run appends _<seed>_<random>, drops them at the end',
  )
  .option(
    '--keep-temporal-databases',
    "postgres engine: keep Temporal's databases at the end (to read histories)",
  )
  .option(
    '--settle-timeout <seconds>',
    'how long to wait for the campaign to settle after the last fault (default: 600, or a second per contact when more)',
    int(1),
  )
  .option('--sample-every <seconds>', "how often the processes' memory (RSS) is sampled", int(1), 30)
  .option('--out <file>', 'write the report as JSON')
  .addHelpText(
    'after',
    [
      '',
      "Faults (an equal share of each of the engine's kinds):",
      ...describeFaultKinds().map((l) => `  ${l}`),
    ].join('\n'),
  )
  .action(
    async (o: {
      engine: ChaosEngine;
      temporalDatabaseUrl?: string;
      keepTemporalDatabases?: boolean;
      sampleEvery: number;
      contacts: number;
      faults: number;
      seed?: number;
      workers: number;
      faultGap: number;
      databaseUrl: string;
      settleTimeout?: number;
      out?: string;
    }) => {
      const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
      console.error(`chaos: seed ${seed}, engine ${o.engine} (rerun with --seed ${seed})`);
      const report = await runChaos({
        engine: o.engine,
        ...(o.temporalDatabaseUrl ? { temporalDatabaseUrl: o.temporalDatabaseUrl } : {}),
        keepTemporalDatabases: o.keepTemporalDatabases ?? false,
        sampleEveryMs: o.sampleEvery * 1000,
        contacts: o.contacts,
        faults: o.faults,
        seed,
        workers: o.workers,
        faultGapMs: o.faultGap,
        databaseUrl: o.databaseUrl,
        // a long run without faults settles at a few dials a second: the whole campaign is the wait
        settleTimeoutMs: (o.settleTimeout ?? Math.max(600, o.contacts)) * 1000,
      });
      console.log(formatReport(report));
      if (o.out) fs.writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
      const violated = Object.values(report.violations).some((n) => n > 0);
      process.exitCode = violated || !report.settled ? 1 : 0;
    },
  );

program.parseAsync().catch((err: unknown) => {
  console.error(`chaos: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 2;
});
