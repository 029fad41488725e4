import { type Command, InvalidArgumentError, Option } from 'commander';
import { AGENT_ENDPOINT, AGENT_STATUSES, listAgents, setAgentStatus, upsertAgent } from '../../ops/agents';
import { decidePreview, nextPreview } from '../../ops/preview';
import { lastStateName } from '../../domain/contract';
import { type Ctx, operationDeps } from '../context';
import { withJsonOutput } from '../output';
import { campaignNameArg, durationArg, intArg } from '../parse';

function endpointArg(v: string): string {
  if (AGENT_ENDPOINT.test(v)) return v;
  throw new InvalidArgumentError(`"${v}" is not an agent endpoint: client:<identity> or a number in E.164`);
}

function statusArg(v: string): string {
  if ((AGENT_STATUSES as readonly string[]).includes(v)) return v;
  throw new InvalidArgumentError(`"${v}" is not one of ${AGENT_STATUSES.join(', ')}`);
}

/** An `agents <what> <endpoint>` subcommand. */
function agentCommand(agents: Command, what: string): Command {
  return agents.command(what).argument('<endpoint>', 'client:<identity> or an E.164 number', endpointArg);
}

export function registerAgentCommands(program: Command, ctx: Ctx): void {
  const agents = program.command('agents').description('the agents calls are bridged to');
  registerAdd(agents, ctx);
  registerStatus(agents, ctx);
  registerNext(agents, ctx);
  registerTake(agents, ctx);
  registerSkip(agents, ctx);
  registerList(agents, ctx);
}

function registerAdd(agents: Command, ctx: Ctx): void {
  agentCommand(agents, 'add')
    .description('add an agent (or update it), taking calls for a campaign')
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
}

function registerStatus(agents: Command, ctx: Ctx): void {
  agentCommand(agents, 'status')
    .description('set an agent’s status')
    .argument('<status>', AGENT_STATUSES.join(' | '), statusArg)
    .action(async (endpoint: string, status: string) => {
      const a = await setAgentStatus(ctx().db().sql, endpoint, status);
      console.log(`agent ${a.endpoint}: ${a.status}`);
    });
}

function registerNext(agents: Command, ctx: Ctx): void {
  withJsonOutput(
    agentCommand(agents, 'next').description(
      'preview mode: the next contact for this agent to take or skip (held for them alone)',
    ),
    async (endpoint: string) => nextPreview(await operationDeps(ctx), endpoint),
    (next, endpoint) => {
      if (!next) return console.log('no contact is waiting for preview');
      console.log(
        [
          `contact ${next.contactId} (${next.campaign}, attempt ${next.attemptNo}): ${next.name ?? 'no name'}, ${next.phoneNumber}`,
          `  last state ${next.lastState === null ? '—' : (lastStateName(next.lastState) ?? next.lastState)}, ` +
            `${next.numberOfContacts} attempt(s) so far, time zone ${next.timeZone ?? 'from the number'}`,
          `  data: ${JSON.stringify(next.data)}`,
          `take it: dialer agents take ${endpoint}   skip it: dialer agents skip ${endpoint}`,
        ].join('\n'),
      );
    },
  );
}

function registerTake(agents: Command, ctx: Ctx): void {
  agentCommand(agents, 'take')
    .description('preview mode: dial the contact this agent holds; the person is bridged to them')
    .option('--contact <id>', 'the contact the agent means (refused if they hold another)', intArg(1))
    .action(async (endpoint: string, o: { contact?: number }) => {
      const r = await decidePreview(await operationDeps(ctx), endpoint, 'take', { contactId: o.contact });
      console.log(`contact ${r.contactId} taken by ${endpoint}: dialing`);
    });
}

function registerSkip(agents: Command, ctx: Ctx): void {
  agentCommand(agents, 'skip')
    .description('preview mode: give the contact this agent holds back undialed')
    .option('--contact <id>', 'the contact the agent means (refused if they hold another)', intArg(1))
    .option('--reason <text>', 'why, for the decision log')
    .option('--hold <duration>', 'keep it out of every cache this long (default 1h)', durationArg)
    .action(async (endpoint: string, o: { contact?: number; reason?: string; hold?: number }) => {
      const r = await decidePreview(await operationDeps(ctx), endpoint, 'skip', {
        contactId: o.contact,
        reason: o.reason,
        holdMs: o.hold,
      });
      console.log(`contact ${r.contactId} skipped by ${endpoint}`);
    });
}

function registerList(agents: Command, ctx: Ctx): void {
  withJsonOutput(
    agents
      .command('list')
      .description('list agents')
      .option('--campaign <name>', 'only this campaign’s', campaignNameArg),
    (o: { campaign?: string }) => listAgents(ctx().db().sql, o.campaign),
    (rows) => {
      for (const r of rows) console.log([r.endpoint, r.status, r.campaign ?? '—', r.name ?? ''].join('  '));
    },
  );
}
