import { type Command, Option } from 'commander';
import {
  type CampaignDeps,
  type CampaignStatusReport,
  type CampaignChanges,
  campaignStatus,
  createCampaign,
  listCampaigns,
  requireCampaign,
  signalCampaign,
  startCampaign,
  updateCampaign,
} from '../../ops/campaign-operations';
import { DEFAULT_RETRY_RULES, type LastStateName, type RetryRules } from '../../domain/contract';
import { type CampaignOptions, campaignWorkflowId } from '../../workflows/shared';
import { describePeriod } from '../../domain/abandon';
import { DIALING_MODES, type DialingMode } from '../../domain/pacing';
import type { DialRuleSettings } from '../../domain/dial-rules';
import { type CommandContext, UserError, type Ctx } from '../context';
import { printOutput, withJsonOutput } from '../output';
import {
  applyRetryOptions,
  campaignNameArg,
  durationArg,
  e164Arg,
  finalArg,
  intArg,
  positiveNumberArg,
  retryArg,
  NONE,
  capArg,
  gapArg,
  orNull,
  percentArg,
  ratioArg,
  windowArg,
  zoneArg,
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
  window?: string;
  timeZone?: string;
  maxPerDay?: number | typeof NONE;
  maxPer24h?: number | typeof NONE;
  minGap?: number | typeof NONE;
  abandonCooloff?: boolean;
  mode?: DialingMode;
  callsPerAgent?: number;
  abandonTarget?: number;
}

/** The dialing rules' options (windows, caps, mode), shared by create and update. */
function addRuleOptions(cmd: Command): Command {
  return cmd
    .option(
      '--window <text>',
      "when callees may be rung, in their local time, e.g. 'mon-fri 09:00-20:00; sat 10:00-16:00; holidays US' (default 'daily 08:00-21:00')",
      windowArg,
    )
    .option(
      '--time-zone <zone>',
      "the callee's IANA zone when neither the contact's time_zone nor its number tells it ('none' clears)",
      zoneArg,
    )
    .option(
      '--max-per-day <n>',
      "attempts per contact per calendar day in the callee's time ('none': no cap)",
      capArg,
    )
    .option('--max-per-24h <n>', "attempts per contact in any 24 h ('none': no cap)", capArg)
    .option(
      '--min-gap <duration>',
      "the least time between two attempts of a contact, e.g. 4h ('none')",
      gapArg,
    )
    .option(
      '--abandon-cooloff',
      'no redial within 72 h of a call the dialer abandoned (as the abandon ledger counts them)',
    )
    .option('--no-abandon-cooloff', 'redial after an abandoned call by the retry rule')
    .addOption(
      new Option(
        '--mode <mode>',
        'dialing mode with agents: agentless, preview, progressive (default), power or predictive',
      ).choices([...DIALING_MODES]),
    )
    .option('--calls-per-agent <n>', 'power mode: calls per free agent (1–10)', ratioArg)
    .option(
      '--abandon-target <percent>',
      'predictive: the abandon rate to stay under, in % (default 3)',
      percentArg,
    );
}

function ruleChanges(o: Partial<CreateOpts>): CampaignChanges {
  return {
    ...(o.window !== undefined ? { callingWindow: o.window } : {}),
    ...(o.timeZone !== undefined ? { timeZone: orNull(o.timeZone) } : {}),
    ...(o.maxPerDay !== undefined ? { maxAttemptsPerDay: orNull(o.maxPerDay) } : {}),
    ...(o.maxPer24h !== undefined ? { maxAttemptsPer24h: orNull(o.maxPer24h) } : {}),
    ...(o.minGap !== undefined ? { minAttemptGapSeconds: orNull(o.minGap) } : {}),
    ...(o.abandonCooloff !== undefined ? { abandonCooloff: o.abandonCooloff } : {}),
    ...(o.mode !== undefined ? { dialingMode: o.mode } : {}),
    ...(o.callsPerAgent !== undefined ? { callsPerAgent: o.callsPerAgent } : {}),
    ...(o.abandonTarget !== undefined ? { abandonTarget: o.abandonTarget } : {}),
  };
}

/** A campaign's window and caps in words, for `campaign show`. */
function describeRules(
  row: DialRuleSettings & { dialingMode: string; callsPerAgent: number; abandonTarget: number },
): string[] {
  const caps = [
    row.maxAttemptsPerDay !== null ? `${row.maxAttemptsPerDay} a day` : null,
    row.maxAttemptsPer24h !== null ? `${row.maxAttemptsPer24h} per 24 h` : null,
    row.minAttemptGapSeconds !== null ? `${row.minAttemptGapSeconds} s apart` : null,
    row.abandonCooloff ? 'none within 72 h of an abandon' : null,
  ].filter(Boolean);
  return [
    `  calling window (callee's time): ${row.callingWindow}; zone when unknown: ${row.timeZone ?? 'none (not dialed)'}`,
    `  attempt caps per contact: ${caps.length ? caps.join(', ') : 'none'}`,
    `  dialing mode: ${row.dialingMode}` +
      (row.dialingMode === 'power' ? `, ${row.callsPerAgent} calls per free agent` : '') +
      `; abandon target ${(row.abandonTarget * 100).toFixed(1)} %`,
  ];
}

const deps = (ctx: CommandContext): CampaignDeps => ({
  db: ctx.db(),
  temporal: () => ctx.temporal(),
  taskQueue: ctx.cfg.temporal.taskQueue,
});

/** --watch: dialed / remaining and the outcomes so far, with a bar. */
/** §5a: an open campaign with nothing to dial now is waiting for the CRM, not stuck. */
function waitingForCrm(r: CampaignStatusReport): string {
  const w = r.workflow;
  const idle = w && w.status === 'running' && w.cached === 0 && w.inFlight === 0 && w.nextRedialAt === null;
  return idle ? ' (open: nothing to dial now, waiting for the CRM)' : '';
}

export function printProgress(r: CampaignStatusReport): void {
  const n = (k: string) => r.byContactSuccessful[k] ?? 0;
  const remaining = n('NotUsed') + n('NoSuccess') + n('MarkedForDialing');
  const done = r.contacts - remaining;
  const width = 30;
  const filled = r.contacts ? Math.round((done / r.contacts) * width) : width;
  console.log(
    [
      `${new Date().toISOString()}  campaign ${r.name}: ${r.workflow?.status ?? r.status}${waitingForCrm(r)}`,
      `  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${r.contacts} contacts done, ${remaining} remaining`,
      `  calls placed ${r.attempts}, in flight ${r.workflow?.inFlight ?? 0}, cached ${r.workflow?.cached ?? 0}, next redial ${r.workflow?.nextRedialAt ?? '—'}`,
      `  outcomes: ${
        Object.entries(r.byLastState)
          .filter(([k]) => k !== 'none')
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || '—'
      }`,
    ].join('\n'),
  );
}

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
  const a = r.abandons;
  lines.push(
    `  abandoned calls (target ${(a.target * 100).toFixed(1)} %${a.overTarget ? ', OVER IT' : ''}): ` +
      `30 days ${describePeriod(a.last30Days)}; 24 h ${describePeriod(a.last24Hours)}`,
  );
  if (r.workflow) {
    const held = Object.entries(r.workflow.heldBack ?? {})
      .map(([rule, n]) => `${n} by ${rule}`)
      .join(', ');
    lines.push(
      `  workflow: ${r.workflow.status}${waitingForCrm(r)}, cached ${r.workflow.cached}, calls in flight ${r.workflow.inFlight}, ` +
        `next redial ${r.workflow.nextRedialAt ?? '—'}` +
        (held ? `, held back ${held}` : ''),
    );
  }
  console.log(lines.join('\n'));
}

/** A `campaign <what> <name>` subcommand. */
function campaignCommand(campaign: Command, what: string): Command {
  return campaign.command(what).argument('<name>', 'campaign name', campaignNameArg);
}

export function registerCampaignCommands(program: Command, ctx: Ctx): void {
  const campaign = program
    .command('campaign')
    .description('create, start, pause, resume, stop and watch campaigns');
  registerCreate(campaign, ctx);
  registerUpdate(campaign, ctx);
  registerShow(campaign, ctx);
  registerList(campaign, ctx);
  registerStart(campaign, ctx);
  for (const what of ['pause', 'resume'] as const) registerPauseOrResume(campaign, ctx, what);
  registerRefill(campaign, ctx);
  registerStop(campaign, ctx);
  registerStatus(campaign, ctx);
}

function registerCreate(campaign: Command, ctx: Ctx): void {
  const create = campaignCommand(campaign, 'create')
    .description('create a campaign (its contacts are the rows whose campaign_name equals its name)')
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
    .option('--wrap-up <seconds>', 'an agent’s wrap-up time after a call', intArg(0, 3600), 10);
  withJsonOutput(
    addRuleOptions(create),
    (name: string, o: CreateOpts) => runCreate(ctx(), name, o),
    (row) =>
      console.log(
        `created campaign ${row.name} (max attempts ${row.maxAttempts}, lines ${row.lines}, caller id ${row.callerId})`,
      ),
    { description: 'print the created campaign as JSON' },
  );
}

async function runCreate(c: CommandContext, name: string, o: CreateOpts) {
  if (o.amd === 'message' && !o.machineMessage)
    throw new UserError('--amd message needs --machine-message <text>');
  const retryRules = applyRetryOptions(DEFAULT_RETRY_RULES, o.retry, o.final);
  return createCampaign(c.db(), {
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
    ...ruleChanges(o),
  });
}

function registerUpdate(campaign: Command, ctx: Ctx): void {
  const update = campaignCommand(campaign, 'update')
    .description('change a campaign’s settings; a running campaign uses them for its next attempts')
    .option('--caller-id <e164>', 'the number calls come from, in E.164', e164Arg)
    .option('--max-attempts <n>', 'attempts per contact before it is Unreachable', intArg(1, 1000))
    .option('--lines <n>', 'calls in flight at most', intArg(1, 10_000))
    .option('--calls-per-second <n>', 'new calls per second at most', positiveNumberArg)
    .option('--ring-timeout <seconds>', 'how long a call rings before it is AlertingTimeout', intArg(15, 600))
    .option('--retry <state=delay>', 'redial delay per LastState, repeatable; other rules stay', retryArg)
    .option(
      '--final <states>',
      'the LastStates that end a contact (replaces the set), comma-separated',
      finalArg,
    )
    .option('--message <text>', 'what a person hears when the campaign has no agent for them')
    .addOption(
      new Option('--amd <mode>', 'answering-machine detection').choices(['off', 'hangup', 'message']),
    )
    .option('--machine-message <text>', 'what a machine records when --amd message')
    .option(
      '--transfer-timeout <seconds>',
      'how long an agent’s leg rings before TransferTimeout',
      intArg(5, 600),
    )
    .option('--wrap-up <seconds>', 'an agent’s wrap-up time after a call', intArg(0, 3600));
  withJsonOutput(
    addRuleOptions(update),
    (name: string, o: Partial<CreateOpts>) => runUpdate(ctx(), name, o),
    (r, name) =>
      console.log(
        `updated campaign ${name}: ${Object.keys(r.changes).join(', ')}` +
          (r.running ? ' (the running campaign uses it for its next attempts)' : ''),
      ),
    { description: 'print the updated campaign as JSON', json: (r) => r.campaign },
  );
}

/** The changes the update's options ask for; the retry rules are the current ones with the options applied. */
function updateChanges(o: Partial<CreateOpts>, current: { retryRules: RetryRules }): CampaignChanges {
  return {
    ...(o.callerId !== undefined ? { callerId: o.callerId } : {}),
    ...(o.maxAttempts !== undefined ? { maxAttempts: o.maxAttempts } : {}),
    ...(o.lines !== undefined ? { lines: o.lines } : {}),
    ...(o.callsPerSecond !== undefined ? { callsPerSecond: o.callsPerSecond } : {}),
    ...(o.ringTimeout !== undefined ? { ringTimeoutSeconds: o.ringTimeout } : {}),
    ...(o.retry || o.final ? { retryRules: applyRetryOptions(current.retryRules, o.retry, o.final) } : {}),
    ...(o.message !== undefined ? { message: o.message } : {}),
    ...(o.amd !== undefined ? { machineDetection: o.amd } : {}),
    ...(o.machineMessage !== undefined ? { machineMessage: o.machineMessage } : {}),
    ...(o.transferTimeout !== undefined ? { transferTimeoutSeconds: o.transferTimeout } : {}),
    ...(o.wrapUp !== undefined ? { wrapUpSeconds: o.wrapUp } : {}),
    ...ruleChanges(o),
  };
}

/** The update the options ask for; returns the campaign as updated, the changes and whether it runs. */
async function runUpdate(c: CommandContext, name: string, o: Partial<CreateOpts>) {
  const current = await requireCampaign(c.db(), name);
  const amd = o.amd ?? current.machineDetection;
  if (amd === 'message' && !(o.machineMessage ?? current.machineMessage))
    throw new UserError('--amd message needs --machine-message <text>');
  const changes = updateChanges(o, current);
  return { ...(await updateCampaign(deps(c), name, changes)), changes };
}

function registerShow(campaign: Command, ctx: Ctx): void {
  withJsonOutput(
    campaignCommand(campaign, 'show').description('a campaign’s settings'),
    (name: string) => requireCampaign(ctx().db(), name),
    (row) => {
      const r = row.retryRules;
      console.log(
        [
          `campaign ${row.name} (${row.status})`,
          `  caller id ${row.callerId}, max attempts ${row.maxAttempts}, lines ${row.lines}, ${row.callsPerSecond} calls/s, ring ${row.ringTimeoutSeconds} s`,
          `  retry: ${Object.entries(r.delaySeconds)
            .map(([k, v]) => `${k} ${v} s`)
            .join(', ')}, otherwise ${r.defaultDelaySeconds} s; final: ${r.final.join(', ')}`,
          `  answering machines: ${row.machineDetection}${row.machineMessage ? ` ("${row.machineMessage}")` : ''}`,
          `  message: "${row.message}"`,
          `  agents: transfer timeout ${row.transferTimeoutSeconds} s, wrap-up ${row.wrapUpSeconds} s`,
          ...describeRules(row),
        ].join('\n'),
      );
    },
  );
}

function registerList(campaign: Command, ctx: Ctx): void {
  withJsonOutput(
    campaign.command('list').description('every campaign with its status and number of contacts'),
    () => listCampaigns(ctx().db()),
    (rows) => {
      for (const r of rows)
        console.log(
          `${r.name}  ${r.status}  ${r.contacts} contacts  ${r.lines} lines  ${r.callsPerSecond}/s`,
        );
      console.error(`${rows.length} campaign(s)`);
    },
  );
}

interface StartOpts {
  refillInterval?: number;
  callTimeout?: number;
  lookahead?: number;
  untilEmpty?: boolean;
  maxHistory?: number;
}

function registerStart(campaign: Command, ctx: Ctx): void {
  campaignCommand(campaign, 'start')
    .description(
      'start dialing a campaign; it stays open (waits for the CRM) until paused or stopped, unless --until-empty',
    )
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
    .option(
      '--until-empty',
      'a batch run: complete once nothing is left to dial (no eligible contact, redial or call in flight)',
    )
    // open is the default now (§5a); accepted so that scripts written before still run
    .addOption(new Option('--keep-running').hideHelp())
    .option(
      '--max-history <events>',
      'continue as new after this many history events (default 10000)',
      intArg(50),
    )
    .action(async (name: string, o: StartOpts) => {
      const options: Partial<CampaignOptions> = {
        ...(o.refillInterval !== undefined ? { refillIntervalMs: o.refillInterval } : {}),
        ...(o.callTimeout !== undefined ? { callTimeoutMs: o.callTimeout } : {}),
        ...(o.lookahead !== undefined ? { lookaheadMs: o.lookahead } : {}),
        finishWhenDone: o.untilEmpty === true,
        ...(o.maxHistory !== undefined ? { maxHistoryEvents: o.maxHistory } : {}),
      };
      await startCampaign(deps(ctx()), name, options);
      console.log(
        `started campaign ${name} (workflow ${campaignWorkflowId(name)}; ` +
          (o.untilEmpty ? 'completes once nothing is left to dial)' : 'open until paused or stopped)'),
      );
    });
}

function registerPauseOrResume(campaign: Command, ctx: Ctx, what: 'pause' | 'resume'): void {
  campaignCommand(campaign, what)
    .description(
      what === 'pause'
        ? 'stop placing new calls; undialed cached contacts go back (a paused campaign: nothing to do)'
        : 'continue a paused campaign (a running one: nothing to do)',
    )
    .action(async (name: string) => {
      console.log((await signalCampaign(deps(ctx()), name, what)).message);
    });
}

function registerRefill(campaign: Command, ctx: Ctx): void {
  campaignCommand(campaign, 'refill')
    .description('look at the contacts table now (after the CRM added or changed contacts)')
    .action(async (name: string) => {
      await signalCampaign(deps(ctx()), name, 'refill');
      console.log(`campaign ${name} is refilling its cache`);
    });
}

function registerStop(campaign: Command, ctx: Ctx): void {
  campaignCommand(campaign, 'stop')
    .description(
      'stop a campaign: undialed contacts go back, calls in progress finish (one not running: nothing to do)',
    )
    .option('--wait', 'wait until the campaign has ended (at once when it has already)')
    .action(async (name: string, o: { wait?: boolean }) => {
      const r = await signalCampaign(deps(ctx()), name, 'stop');
      // a campaign already stopping is waited for too; one that has ended returns at once
      if (!o.wait || !r.handle) return console.log(r.message);
      if (!r.changed) console.log(r.message);
      await r.handle.result();
      console.log(`stopped campaign ${name}`);
    });
}

function registerStatus(campaign: Command, ctx: Ctx): void {
  campaignCommand(campaign, 'status')
    .description('counts per ContactSuccessful and LastState, cache and calls in flight')
    .option('--json', 'print as JSON (with --watch: one JSON object per line)')
    .option('--watch', 'redraw live progress until the campaign ends (an open campaign: until Ctrl-C)')
    .option('--interval <duration>', 'how often --watch redraws', durationArg, 2000)
    .action(async (name: string, o: { json?: boolean; watch?: boolean; interval: number }) => {
      const c = ctx();
      if (o.watch) return watchStatus(c, name, o);
      printOutput(o, await campaignStatus(deps(c), name), printStatus);
    });
}

/** --watch: the progress redrawn (or a JSON line) every interval until the campaign has ended. */
async function watchStatus(c: CommandContext, name: string, o: { json?: boolean; interval: number }) {
  const tty = process.stdout.isTTY && !o.json;
  for (;;) {
    const report = await campaignStatus(deps(c), name);
    if (o.json) console.log(JSON.stringify({ at: new Date().toISOString(), ...report }));
    else {
      if (tty) process.stdout.write('\x1b[2J\x1b[H');
      printProgress(report);
    }
    if (!report.workflow && report.status !== 'running') break;
    await new Promise((r) => setTimeout(r, o.interval));
  }
  if (!o.json) console.log(`campaign ${name} has ended (${(await campaignStatus(deps(c), name)).status})`);
}
