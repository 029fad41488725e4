import { type Command, InvalidArgumentError, Option } from 'commander';
import { AGENT_ENDPOINT, AGENT_STATUSES, listAgents, setAgentStatus, upsertAgent } from '../../lib/agents';
import type { CommandContext } from '../context';
import { campaignNameArg } from '../parse';

function endpointArg(v: string): string {
  if (AGENT_ENDPOINT.test(v)) return v;
  throw new InvalidArgumentError(`"${v}" is not an agent endpoint: client:<identity> or a number in E.164`);
}

function statusArg(v: string): string {
  if ((AGENT_STATUSES as readonly string[]).includes(v)) return v;
  throw new InvalidArgumentError(`"${v}" is not one of ${AGENT_STATUSES.join(', ')}`);
}

export function registerAgentCommands(program: Command, ctx: () => CommandContext): void {
  const agents = program.command('agents').description('the agents calls are bridged to');

  agents
    .command('add')
    .description('add an agent (or update it), taking calls for a campaign')
    .argument('<endpoint>', 'client:<identity> or an E.164 number', endpointArg)
    .option('--name <name>', 'display name')
    .option('--campaign <name>', 'the campaign it takes calls for', campaignNameArg)
    .addOption(new Option('--status <status>', 'initial status').choices(AGENT_STATUSES).default('available'))
    .action(async (endpoint: string, o: { name?: string; campaign?: string; status: string }) => {
      const a = await upsertAgent(ctx().db().sql, {
        endpoint,
        name: o.name,
        campaign: o.campaign,
        status: o.status as (typeof AGENT_STATUSES)[number],
      });
      console.log(`agent ${a.endpoint}: ${a.status}${a.campaign ? ` for ${a.campaign}` : ''}`);
    });

  agents
    .command('status')
    .description('set an agent’s status')
    .argument('<endpoint>', 'client:<identity> or an E.164 number', endpointArg)
    .argument('<status>', AGENT_STATUSES.join(' | '), statusArg)
    .action(async (endpoint: string, status: string) => {
      const a = await setAgentStatus(ctx().db().sql, endpoint, status);
      console.log(`agent ${a.endpoint}: ${a.status}`);
    });

  agents
    .command('list')
    .description('list agents')
    .option('--campaign <name>', 'only this campaign’s', campaignNameArg)
    .option('--json', 'print as JSON')
    .action(async (o: { campaign?: string; json?: boolean }) => {
      const rows = await listAgents(ctx().db().sql, o.campaign);
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      for (const r of rows) console.log([r.endpoint, r.status, r.campaign ?? '—', r.name ?? ''].join('  '));
    });
}
