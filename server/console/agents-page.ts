/**
 * The agent board (GET /console/agents): every agent with its campaign, status and wrap-up, polled
 * every 2 s (GET …/board), and a control to set an agent's status by hand (POST
 * /console/agents/:id/status, ops/agents.ts setAgentStatus: a running wrap-up ends). Agents are
 * named by id in URLs; an endpoint that is a phone number is shown masked.
 */
import type { FastifyInstance } from 'fastify';
import { maskPhone } from '../../infra/logger';
import { AGENT_STATUSES, type AgentView, listAgentsById, setAgentStatusById } from '../../ops/agents';
import { type ConsoleContext, refusalOf, requestView, sendHtml } from './context';
import { type Html, campaignPath, csrfField, html, notice, page, timeText } from './html';

type Agent = AgentView & { id: number };

/** An agent's endpoint, its number masked when it is one. */
export const endpointText = (e: string) => (e.startsWith('+') ? maskPhone(e) : e);

const agentLabel = (a: Agent) => `${a.name ?? endpointText(a.endpoint)} (#${a.id})`;

function statusControl(a: Agent, csrf: string): Html {
  const url = `/console/agents/${a.id}/status`;
  return html`<form
    method="post"
    action="${url}"
    hx-post="${url}"
    hx-target="#notice"
    hx-swap="innerHTML"
    class="inline"
  >
    ${csrfField(csrf)}
    <label for="agent-status-${a.id}" class="visually-hidden">Status of ${agentLabel(a)}</label>
    <select id="agent-status-${a.id}" name="status">
      ${AGENT_STATUSES.map((s) => html`<option value="${s}" ${s === a.status ? html`selected` : ''}>${s}</option>`)}
    </select>
    <button type="submit" aria-label="Set the status of ${agentLabel(a)}">Set</button>
  </form>`;
}

export function agentsBoard(agents: Agent[], csrf: string): Html {
  const table =
    agents.length === 0
      ? html`<p class="empty">No agent yet (add them with \`dialer agents add\` or the API).</p>`
      : html`<table>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Name</th>
              <th scope="col">Campaign</th>
              <th scope="col">Status</th>
              <th scope="col">Wrap-up until</th>
              <th scope="col">Set status</th>
            </tr>
          </thead>
          <tbody>
            ${agents.map(
              (a) =>
                html`<tr>
                  <td>${endpointText(a.endpoint)}</td>
                  <td>${a.name ?? '—'}</td>
                  <td>${a.campaign ? html`<a href="${campaignPath(a.campaign)}">${a.campaign}</a>` : '—'}</td>
                  <td><span class="status agent-${a.status}">${a.status}</span></td>
                  <td>${a.wrapUpUntil ? timeText(a.wrapUpUntil) : '—'}</td>
                  <td>${statusControl(a, csrf)}</td>
                </tr>`,
            )}
          </tbody>
        </table>`;
  return html`<div
    id="agents"
    hx-get="/console/agents/board"
    hx-trigger="every 2s, agents-changed from:body"
    hx-swap="outerHTML"
  >
    ${table}
  </div>`;
}

export function agentsPage(
  agents: Agent[],
  csrf: string,
  message?: { text: string; error: boolean },
): string {
  return page({
    title: 'Agents',
    csrf,
    nav: 'agents',
    body: html`<h1>Agents</h1>
      <div id="notice" aria-live="polite">${notice(message)}</div>
      ${agentsBoard(agents, csrf)}`,
  });
}

export function registerAgentsPage(scope: FastifyInstance, ctx: ConsoleContext): void {
  scope.get('/agents', async (req, reply) =>
    sendHtml(reply, agentsPage(await listAgentsById(ctx.db.sql), requestView(ctx, req).csrf)),
  );
  scope.get('/agents/board', async (req, reply) =>
    sendHtml(reply, agentsBoard(await listAgentsById(ctx.db.sql), requestView(ctx, req).csrf).text),
  );
  scope.post<{ Params: { id: string }; Body: { status?: unknown } }>(
    '/agents/:id/status',
    async (req, reply) => {
      const { csrf, htmx } = requestView(ctx, req);
      const id = /^\d{1,9}$/.test(req.params.id) ? Number(req.params.id) : NaN;
      const status = typeof req.body?.status === 'string' ? req.body.status : '';
      let message: { text: string; error: boolean };
      let code = 200;
      try {
        const a = await setAgentStatusById(ctx.db.sql, id, status);
        message = {
          text: `Agent #${id} (${a.name ?? endpointText(a.endpoint)}) is ${a.status}.`,
          error: false,
        };
        req.log.info({ agent: id, status }, 'console: agent status set');
      } catch (err) {
        const refusal = refusalOf(err);
        if (!refusal) throw err;
        message = { text: refusal.text, error: true };
        code = refusal.status;
      }
      if (htmx) {
        reply.header('HX-Trigger', 'agents-changed');
        return sendHtml(reply, notice(message).text, code);
      }
      return sendHtml(reply, agentsPage(await listAgentsById(ctx.db.sql), csrf, message), code);
    },
  );
}
