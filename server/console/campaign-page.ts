/**
 * One campaign, live (GET /console/campaigns/:name): its figures, outcomes and dials as charts,
 * the redial queue, contacts held back by rule, pacing's last answer and the agents, polled every
 * 2 s (GET …/live). No number but the caller id, masked; contacts are named by their id.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { maskPhone } from '../../infra/logger';
import type { CampaignLive } from '../../ops/campaign-board';
import type { PacingView } from '../../workflows/shared';
import { actionButton, actionsFor, abandonText, progressCell, windowText } from './campaigns-page';
import { endpointText } from './agents-page';
import { dialsChart, outcomeChart, perMinuteSeries, toneLegend } from './charts';
import { type ConsoleContext, requestView, sendHtml } from './context';
import { type Html, campaignPath, html, notice, page, percent, timeText } from './html';

/** Pacing's last answer in words. */
export function pacingText(p: PacingView | undefined, lines: number): string {
  if (!p) return 'No answer yet: the campaign has not looked at its agents while running.';
  if (p.capacity === null) return `${p.mode}: no agents assigned, so up to its ${lines} lines.`;
  const perAgent =
    p.callsPerFreeAgent === null
      ? ''
      : `, ${Math.round(p.callsPerFreeAgent * 100) / 100} calls per free agent`;
  const answered = p.answerRate === undefined ? '' : `, answer rate ${percent(p.answerRate)}`;
  return `${p.mode}: ${p.capacity} call${p.capacity === 1 ? '' : 's'} in flight allowed${perAgent}${answered}.`;
}

/** Held-back rules as the console names them (domain/dial-rules.ts and the placing step). */
const RULES: Record<string, string> = {
  window: 'outside the calling window',
  'per-day': 'attempts per day reached',
  'per-24h': 'attempts per 24 h reached',
  'min-gap': 'too soon after the last attempt',
  'after-abandon': 'within 72 h of an abandoned call',
  'number-busy': 'the number is in another call',
  'do-not-call': 'on the do-not-call list',
  'not-a-number': 'not a phone number',
  'preview-skip': 'skipped by an agent (preview)',
  unrecorded: 'rule not recorded (older decision)',
};

function figures(l: CampaignLive): Html {
  const c = l.card;
  const w = l.workflow;
  return html`<dl class="figures">
    <div>
      <dt>Status</dt>
      <dd><span class="status status-${c.status}">${c.status}</span></dd>
    </div>
    <div>
      <dt>Mode</dt>
      <dd>${c.dialingMode}</dd>
    </div>
    <div>
      <dt>Lines in use</dt>
      <dd>${c.linesInUse} of ${c.lines}</dd>
    </div>
    <div class="wide">
      <dt>Progress</dt>
      <dd>${progressCell(c.progress)}</dd>
    </div>
    <div>
      <dt>Dials, last minute</dt>
      <dd>${c.dialsLastMinute}</dd>
    </div>
    <div>
      <dt>Abandoned calls</dt>
      <dd>${abandonText(c.abandons)}</dd>
    </div>
    <div>
      <dt>Calling window</dt>
      <dd>${windowText(c.window)}<br /><span class="hint">${c.window.text}</span></dd>
    </div>
    <div>
      <dt>Caller id</dt>
      <dd>${maskPhone(l.callerId)}</dd>
    </div>
    ${
      w
        ? html`<div>
            <dt>Workflow</dt>
            <dd>${w.cached} cached, ${w.inFlight} in flight (${w.dialing} dialing, ${w.waiting} waiting)</dd>
          </div>`
        : ''
    }
  </dl>`;
}

function redialTable(l: CampaignLive): Html {
  if (l.nextRedials.length === 0) return html`<p class="empty">No redial scheduled.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th scope="col">Due</th>
        <th scope="col">Contact</th>
        <th scope="col">Where</th>
      </tr>
    </thead>
    <tbody>
      ${l.nextRedials.map(
        (r) =>
          html`<tr>
            <td>${timeText(r.at)}</td>
            <td>#${r.contactId}</td>
            <td>${r.cached ? 'taken by the campaign, waiting on its timer' : 'in the table'}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function heldTable(l: CampaignLive): Html {
  if (l.heldBack.length === 0) return html`<p class="empty">No contact held back in the last 15 minutes.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th scope="col">Rule</th>
        <th scope="col">Decision</th>
        <th scope="col">Contacts</th>
        <th scope="col">Decisions</th>
        <th scope="col">Latest</th>
      </tr>
    </thead>
    <tbody>
      ${l.heldBack.map(
        (h) =>
          html`<tr>
            <td>${RULES[h.rule] ?? h.rule}</td>
            <td>${h.kind === 'delayed' ? 'delayed (waits)' : 'skipped (not dialed)'}</td>
            <td>${h.contacts}</td>
            <td>${h.events}</td>
            <td>${timeText(h.latest)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function agentsTable(l: CampaignLive): Html {
  if (l.agents.length === 0) return html`<p class="empty">No agent assigned to this campaign.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th scope="col">Agent</th>
        <th scope="col">Name</th>
        <th scope="col">Status</th>
        <th scope="col">Wrap-up until</th>
      </tr>
    </thead>
    <tbody>
      ${l.agents.map(
        (a) =>
          html`<tr>
            <td>${endpointText(a.endpoint)}</td>
            <td>${a.name ?? '—'}</td>
            <td><span class="status agent-${a.status}">${a.status}</span></td>
            <td>${a.wrapUpUntil ? timeText(a.wrapUpUntil) : '—'}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** The part of the page that is polled. */
export function campaignLiveFragment(l: CampaignLive, csrf: string, now: Date): Html {
  const name = l.card.name;
  const series = perMinuteSeries(l.dialsPerMinute, new Date(l.since), now);
  return html`<div
    id="live"
    hx-get="${campaignPath(name, '/live')}"
    hx-trigger="every 2s, campaigns-changed from:body"
    hx-swap="outerHTML"
  >
    <div class="actions">
      ${actionsFor(l.card.status).map((a) => actionButton(name, a, csrf, 'campaign'))}
      <a href="${campaignPath(name, '/edit')}">Edit settings</a>
    </div>
    ${figures(l)}
    <section aria-labelledby="h-pacing">
      <h2 id="h-pacing">Pacing’s last answer</h2>
      <p>${pacingText(l.workflow?.pacing, l.card.lines)}</p>
    </section>
    <div class="columns">
      <section aria-labelledby="h-outcomes">
        <h2 id="h-outcomes">Outcomes</h2>
        <p class="hint">Contacts by the outcome (LastState) of their last attempt.</p>
        ${outcomeChart(l.outcomes)}${toneLegend()}
      </section>
      <section aria-labelledby="h-dials">
        <h2 id="h-dials">Attempts over time</h2>
        ${dialsChart(series)}
      </section>
    </div>
    <div class="columns">
      <section aria-labelledby="h-redials">
        <h2 id="h-redials">Next redials</h2>
        ${redialTable(l)}
      </section>
      <section aria-labelledby="h-held">
        <h2 id="h-held">Held back, by rule</h2>
        ${heldTable(l)}
      </section>
    </div>
    <section aria-labelledby="h-agents">
      <h2 id="h-agents">Agents</h2>
      ${agentsTable(l)}
    </section>
  </div>`;
}

/** The Temporal UI's list of the campaign's workflows, the filter filled in. */
export function temporalUiLink(
  uiUrl: string | undefined,
  namespace: string,
  name: string,
): string | undefined {
  if (!uiUrl) return undefined;
  const query = encodeURIComponent(`CampaignName="${name}"`);
  return `${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${query}`;
}

export function campaignPage(
  l: CampaignLive,
  o: { csrf: string; now: Date; temporalUi?: string; message?: { text: string; error: boolean } },
): string {
  const name = l.card.name;
  return page({
    title: name,
    csrf: o.csrf,
    nav: 'campaigns',
    body: html`<p><a href="/console">← All campaigns</a></p>
      <div class="heading-row">
        <h1>Campaign “${name}”</h1>
        ${o.temporalUi ? html`<a href="${o.temporalUi}" rel="noopener" target="_blank">Its workflows in the Temporal UI</a>` : ''}
      </div>
      <div id="notice" aria-live="polite">${notice(o.message)}</div>
      ${campaignLiveFragment(l, o.csrf, o.now)}`,
  });
}

export function registerCampaignPage(scope: FastifyInstance, ctx: ConsoleContext) {
  const now = () => ctx.clock?.() ?? new Date();
  const render = async (
    reply: FastifyReply,
    name: string,
    csrf: string,
    message?: { text: string; error: boolean },
    status = 200,
  ) => {
    const live = await ctx.board.live(name);
    const temporalUi = temporalUiLink(ctx.temporalUiUrl, ctx.temporal.options.namespace, name);
    return sendHtml(reply, campaignPage(live, { csrf, now: now(), temporalUi, message }), status);
  };
  scope.get<{ Params: { name: string } }>('/campaigns/:name', async (req, reply) =>
    render(reply, req.params.name, requestView(ctx, req).csrf),
  );
  scope.get<{ Params: { name: string } }>('/campaigns/:name/live', async (req, reply) => {
    const live = await ctx.board.live(req.params.name);
    return sendHtml(reply, campaignLiveFragment(live, requestView(ctx, req).csrf, now()).text);
  });
  return render;
}
