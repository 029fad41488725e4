import { type Command, InvalidArgumentError, Option } from 'commander';
import { type CommandContext, UserError } from '../context';
import { campaignNameArg } from '../parse';

const STATUSES = ['available', 'on-call', 'wrap-up', 'offline'] as const;

/** client:<identity> (a Twilio Client) or a phone number in E.164. */
function endpointArg(v: string): string {
  if (/^client:[A-Za-z0-9_.@-]{1,121}$/.test(v) || /^\+[1-9]\d{6,14}$/.test(v)) return v;
  throw new InvalidArgumentError(`"${v}" is not an agent endpoint: client:<identity> or a number in E.164`);
}

export function registerAgentCommands(program: Command, ctx: () => CommandContext): void {
  const agents = program.command('agents').description('the agents calls are bridged to');

  agents
    .command('add')
    .description('add an agent (or update it), taking calls for a campaign')
    .argument('<endpoint>', 'client:<identity> or an E.164 number', endpointArg)
    .option('--name <name>', 'display name')
    .option('--campaign <name>', 'the campaign it takes calls for', campaignNameArg)
    .addOption(new Option('--status <status>', 'initial status').choices(STATUSES).default('available'))
    .action(async (endpoint: string, o: { name?: string; campaign?: string; status: string }) => {
      const { sql } = ctx().db();
      if (o.campaign && (await sql`select 1 from campaigns where name = ${o.campaign}`).length === 0) {
        throw new UserError(`Unknown campaign "${o.campaign}"`);
      }
      await sql`
        insert into agents (endpoint, name, campaign_name, status)
        values (${endpoint}, ${o.name ?? null}, ${o.campaign ?? null}, ${o.status})
        on conflict (endpoint) do update set name = coalesce(excluded.name, agents.name),
          campaign_name = excluded.campaign_name, status = excluded.status, updated_at = now()`;
      console.log(`agent ${endpoint}: ${o.status}${o.campaign ? ` for ${o.campaign}` : ''}`);
    });

  agents
    .command('status')
    .description('set an agent’s status')
    .argument('<endpoint>', 'client:<identity> or an E.164 number', endpointArg)
    .argument('<status>', STATUSES.join(' | '), (v: string) => {
      if (!(STATUSES as readonly string[]).includes(v))
        throw new InvalidArgumentError(`"${v}" is not one of ${STATUSES.join(', ')}`);
      return v;
    })
    .action(async (endpoint: string, status: string) => {
      const rows = await ctx().db().sql`
        update agents set status = ${status}, wrap_up_until = null, updated_at = now() where endpoint = ${endpoint} returning id`;
      if (rows.length === 0) throw new UserError(`No agent with endpoint ${endpoint}`);
      console.log(`agent ${endpoint}: ${status}`);
    });

  agents
    .command('list')
    .description('list agents')
    .option('--campaign <name>', 'only this campaign’s', campaignNameArg)
    .option('--json', 'print as JSON')
    .action(async (o: { campaign?: string; json?: boolean }) => {
      const rows = await ctx().db().sql`
        select endpoint, name, campaign_name, status, wrap_up_until, current_call_sid from agents
        where (${o.campaign ?? null}::text is null or campaign_name = ${o.campaign ?? null}) order by id`;
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      for (const r of rows)
        console.log([r.endpoint, r.status, r.campaign_name ?? '—', r.name ?? ''].join('  '));
    });
}
