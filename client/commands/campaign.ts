import { type Command, Option } from 'commander';
import { campaigns } from '../../db/schema';
import {
  type CampaignDeps,
  type CampaignStatusReport,
  campaignStatus,
  signalCampaign,
  startCampaign,
} from '../../lib/campaign-operations';
import { OperationError } from '../../lib/contact-operations';
import {
  type CampaignOptions,
  DEFAULT_RETRY_RULES,
  type LastStateName,
  campaignWorkflowId,
} from '../../workflows/shared';
import { type CommandContext, UserError } from '../context';
import {
  applyRetryOptions,
  campaignNameArg,
  durationArg,
  e164Arg,
  finalArg,
  intArg,
  positiveNumberArg,
  retryArg,
} from '../parse';

interface CreateOpts {
  callerId: string;
  maxAttempts: number;
  lines: number;
  callsPerSecond: number;
  ringTimeout: number;
  retry?: Record<string, number>;
  final?: LastStateName[];
  message?: string;
  amd: 'off' | 'hangup' | 'message';
  machineMessage?: string;
  transferTimeout: number;
  wrapUp: number;
}

/** OperationErrors are the user's to fix: print them plainly. */
async function op<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OperationError) throw new UserError(err.message);
    throw err;
  }
}

const deps = (ctx: CommandContext): CampaignDeps => ({
  db: ctx.db(),
  temporal: () => ctx.temporal(),
  taskQueue: ctx.cfg.temporal.taskQueue,
});

function printStatus(r: CampaignStatusReport): void {
  const lines = [
    `campaign ${r.name}: ${r.status}`,
    `  contacts: ${r.contacts}   attempts placed: ${r.attempts}`,
    `  by ContactSuccessful: ${
      Object.entries(r.byContactSuccessful)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '—'
    }`,
    `  by LastState: ${
      Object.entries(r.byLastState)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '—'
    }`,
  ];
  if (r.workflow) {
    lines.push(
      `  workflow: ${r.workflow.status}, cached ${r.workflow.cached}, calls in flight ${r.workflow.inFlight}, ` +
        `next redial ${r.workflow.nextRedialAt ?? '—'}`,
    );
  }
  console.log(lines.join('\n'));
}

export function registerCampaignCommands(program: Command, ctx: () => CommandContext): void {
  const campaign = program
    .command('campaign')
    .description('create, start, pause, resume, stop and watch campaigns');

  campaign
    .command('create')
    .description('create a campaign (its contacts are the rows whose campaign_name equals its name)')
    .argument('<name>', 'campaign name', campaignNameArg)
    .requiredOption('--caller-id <e164>', 'the number calls come from, in E.164', e164Arg)
    .option('--max-attempts <n>', 'attempts per contact before it is Unreachable', intArg(1, 1000), 3)
    .option('--lines <n>', 'calls in flight at most', intArg(1, 10_000), 5)
    .option('--calls-per-second <n>', 'new calls per second at most', positiveNumberArg, 1)
    .option(
      '--ring-timeout <seconds>',
      'how long a call rings before it is AlertingTimeout',
      intArg(15, 600),
      30,
    )
    .option(
      '--retry <state=delay>',
      'redial delay per LastState, repeatable (e.g. Busy=5m, default=15m)',
      retryArg,
    )
    .option(
      '--final <states>',
      'LastStates that end a contact as Unreachable, comma-separated (e.g. Fax)',
      finalArg,
    )
    .option('--message <text>', 'what a person hears when the campaign has no agent for them')
    .addOption(
      new Option('--amd <mode>', 'answering-machine detection: off, hangup (on a machine or fax), or message')
        .choices(['off', 'hangup', 'message'])
        .default('off'),
    )
    .option('--machine-message <text>', 'what a machine records when --amd message')
    .option(
      '--transfer-timeout <seconds>',
      'how long an agent’s leg rings before TransferTimeout',
      intArg(5, 600),
      20,
    )
    .option('--wrap-up <seconds>', 'an agent’s wrap-up time after a call', intArg(0, 3600), 10)
    .option('--json', 'print the created campaign as JSON')
    .action(async (name: string, o: CreateOpts & { json?: boolean }) => {
      if (o.amd === 'message' && !o.machineMessage)
        throw new UserError('--amd message needs --machine-message <text>');
      const retryRules = applyRetryOptions(DEFAULT_RETRY_RULES, o.retry, o.final);
      const [row] = await ctx()
        .db()
        .db.insert(campaigns)
        .values({
          name,
          callerId: o.callerId,
          maxAttempts: o.maxAttempts,
          lines: o.lines,
          callsPerSecond: o.callsPerSecond,
          ringTimeoutSeconds: o.ringTimeout,
          retryRules,
          ...(o.message ? { message: o.message } : {}),
          machineDetection: o.amd,
          transferTimeoutSeconds: o.transferTimeout,
          wrapUpSeconds: o.wrapUp,
          ...(o.machineMessage ? { machineMessage: o.machineMessage } : {}),
        })
        .onConflictDoNothing({ target: campaigns.name })
        .returning();
      if (!row) throw new UserError(`A campaign named "${name}" already exists.`);
      if (o.json) console.log(JSON.stringify(row, null, 2));
      else
        console.log(
          `created campaign ${name} (max attempts ${row.maxAttempts}, lines ${row.lines}, caller id ${row.callerId})`,
        );
    });

  campaign
    .command('start')
    .description('start dialing a campaign')
    .argument('<name>', 'campaign name', campaignNameArg)
    .option('--refill-interval <duration>', 'how often to look for new and changed contacts', durationArg)
    .option(
      '--call-timeout <duration>',
      'ask Twilio for a call whose final status has not arrived after this',
      durationArg,
    )
    .option(
      '--lookahead <duration>',
      'take redials into the cache this long before they are due',
      durationArg,
    )
    .addOption(new Option('--keep-running', 'keep running when nothing is left to dial (wait for the CRM)'))
    .option(
      '--max-history <events>',
      'continue as new after this many history events (default 10000)',
      intArg(50),
    )
    .action(
      async (
        name: string,
        o: {
          refillInterval?: number;
          callTimeout?: number;
          lookahead?: number;
          keepRunning?: boolean;
          maxHistory?: number;
        },
      ) => {
        const options: Partial<CampaignOptions> = {
          ...(o.refillInterval !== undefined ? { refillIntervalMs: o.refillInterval } : {}),
          ...(o.callTimeout !== undefined ? { callTimeoutMs: o.callTimeout } : {}),
          ...(o.lookahead !== undefined ? { lookaheadMs: o.lookahead } : {}),
          ...(o.keepRunning ? { finishWhenDone: false } : {}),
          ...(o.maxHistory !== undefined ? { maxHistoryEvents: o.maxHistory } : {}),
        };
        await op(() => startCampaign(deps(ctx()), name, options));
        console.log(`started campaign ${name} (workflow ${campaignWorkflowId(name)})`);
      },
    );

  for (const what of ['pause', 'resume'] as const) {
    campaign
      .command(what)
      .description(
        what === 'pause'
          ? 'stop placing new calls; undialed cached contacts go back'
          : 'continue a paused campaign',
      )
      .argument('<name>', 'campaign name', campaignNameArg)
      .action(async (name: string) => {
        await op(() => signalCampaign(deps(ctx()), name, what));
        console.log(`${what === 'pause' ? 'paused' : 'resumed'} campaign ${name}`);
      });
  }

  campaign
    .command('refill')
    .description('look at the contacts table now (after the CRM added or changed contacts)')
    .argument('<name>', 'campaign name', campaignNameArg)
    .action(async (name: string) => {
      await op(() => signalCampaign(deps(ctx()), name, 'refill'));
      console.log(`campaign ${name} is refilling its cache`);
    });

  campaign
    .command('stop')
    .description('stop a campaign: undialed contacts go back, calls in progress finish')
    .argument('<name>', 'campaign name', campaignNameArg)
    .option('--wait', 'wait until the campaign has ended')
    .action(async (name: string, o: { wait?: boolean }) => {
      const handle = await op(() => signalCampaign(deps(ctx()), name, 'stop'));
      if (o.wait) {
        await handle.result();
        console.log(`stopped campaign ${name}`);
      } else {
        console.log(`stopping campaign ${name}`);
      }
    });

  campaign
    .command('status')
    .description('counts per ContactSuccessful and LastState, cache and calls in flight')
    .argument('<name>', 'campaign name', campaignNameArg)
    .option('--json', 'print as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const report = await op(() => campaignStatus(deps(ctx()), name));
      if (o.json) console.log(JSON.stringify(report, null, 2));
      else printStatus(report);
    });
}
