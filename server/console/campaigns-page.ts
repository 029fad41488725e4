/**
 * The campaigns list (GET /console), its table polled every 2 s, and the campaign actions: start,
 * pause, resume and stop (stop asks first). An action's answer is a notice: what was done, or the
 * operation's refusal in its own words.
 */
import type { FastifyInstance } from 'fastify';
import type { CampaignCard } from '../../ops/campaign-board';
import { signalCampaign, startCampaign } from '../../ops/campaign-operations';
import { type ConsoleContext, type Refusal, refusalOf, requestView, sendHtml } from './context';
import { type Html, campaignPath, csrfField, html, idFor, notice, page, percent, timeText } from './html';

export type CampaignAction = 'start' | 'pause' | 'resume' | 'stop';
const ACTIONS: readonly CampaignAction[] = ['start', 'pause', 'resume', 'stop'];

/** The actions that make sense in a status (the operations are idempotent anyway, §5a). */
export function actionsFor(status: string): CampaignAction[] {
  if (status === 'running') return ['pause', 'stop'];
  if (status === 'paused') return ['resume', 'stop'];
  if (status === 'stopping') return [];
  return ['start'];
}

const LABEL: Record<CampaignAction, string> = {
  start: 'Start',
  pause: 'Pause',
  resume: 'Resume',
  stop: 'Stop…',
};

/** One action's button: a form that works without JavaScript; with htmx it posts in place. */
export function actionButton(
  name: string,
  action: CampaignAction,
  csrf: string,
  back: 'list' | 'campaign',
): Html {
  const url = campaignPath(name, `/${action}`);
  const id = idFor(`${action}-${back}`, name);
  if (action === 'stop') {
    // without JavaScript: a confirmation page; with htmx: the browser's confirm, then the POST
    return html`<form
      method="get"
      action="${url}"
      hx-post="${url}"
      hx-target="#notice"
      hx-swap="innerHTML"
      hx-confirm="Stop campaign “${name}”? Undialed contacts go back; calls in progress finish."
    >
      <button type="submit" id="${id}" class="danger" aria-label="Stop campaign ${name}">
        ${LABEL.stop}
      </button>
    </form>`;
  }
  return html`<form method="post" action="${url}" hx-post="${url}" hx-target="#notice" hx-swap="innerHTML">
    ${csrfField(csrf)}<input type="hidden" name="_back" value="${back}" />
    <button type="submit" id="${id}" aria-label="${LABEL[action]} campaign ${name}">${LABEL[action]}</button>
  </form>`;
}

/** "open" / "closed, opens …" / "per callee": the calling window now. */
export function windowText(w: CampaignCard['window']): Html {
  if (w.open === null) return html`<span title="${w.text}">per callee’s zone</span>`;
  if (w.open) return html`<span class="ok" title="${w.text}${w.zone ? ` (${w.zone})` : ''}">open</span>`;
  return html`<span class="warn" title="${w.text} (${w.zone})"
    >closed${w.opensAt ? html`, opens ${timeText(w.opensAt)}` : ''}</span
  >`;
}

/** Both abandon rates, each marked when over the campaign's target. */
export function abandonText(a: CampaignCard['abandons']): Html {
  const one = (what: string, p: CampaignCard['abandons']['last30Days']) => {
    const over = p.rate !== null && p.rate > a.target;
    return html`<span class="${over ? 'over' : ''}"
      >${what} ${percent(p.rate)}${over ? html` <strong>over target</strong>` : ''}</span
    >`;
  };
  return html`${one('30 d', a.last30Days)}<br />${one('24 h', a.last24Hours)}<br /><span class="hint"
      >target ${percent(a.target)}</span
    >`;
}

export function progressCell(p: CampaignCard['progress']): Html {
  return html`<progress value="${p.done}" max="${Math.max(1, p.total)}" aria-label="Contacts done">
      ${p.done} of ${p.total}
    </progress>
    <span>${p.done} / ${p.total} done, ${p.remaining} remaining</span>`;
}

function cardRow(c: CampaignCard, csrf: string): Html {
  return html`<tr>
    <th scope="row" data-label="Campaign"><a href="${campaignPath(c.name)}">${c.name}</a></th>
    <td data-label="Status"><span class="status status-${c.status}">${c.status}</span></td>
    <td data-label="Mode">${c.dialingMode}</td>
    <td data-label="Lines in use">${c.linesInUse} of ${c.lines}</td>
    <td data-label="Progress">${progressCell(c.progress)}</td>
    <td data-label="Dials, last minute">${c.dialsLastMinute}</td>
    <td data-label="Abandoned calls">${abandonText(c.abandons)}</td>
    <td data-label="Calling window">${windowText(c.window)}</td>
    <td data-label="Actions">
      <div class="actions">
        ${actionsFor(c.status).map((a) => actionButton(c.name, a, csrf, 'list'))}
        <a href="${campaignPath(c.name, '/edit')}" aria-label="Edit campaign ${c.name}">Edit</a>
      </div>
    </td>
  </tr>`;
}

/** The table, polled every 2 s (and at once after an action). */
export function campaignsTable(cards: CampaignCard[], csrf: string): Html {
  const body =
    cards.length === 0
      ? html`<p class="empty">No campaigns yet. <a href="/console/new-campaign">Create one</a>.</p>`
      : html`<table class="campaigns">
          <caption class="visually-hidden">
            Campaigns, updated every 2 seconds
          </caption>
          <thead>
            <tr>
              <th scope="col">Campaign</th>
              <th scope="col">Status</th>
              <th scope="col">Mode</th>
              <th scope="col">Lines in use</th>
              <th scope="col">Progress</th>
              <th scope="col">Dials, last minute</th>
              <th scope="col">Abandoned calls</th>
              <th scope="col">Calling window</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            ${cards.map((c) => cardRow(c, csrf))}
          </tbody>
        </table>`;
  return html`<div
    id="campaigns"
    hx-get="/console/fragments/campaigns"
    hx-trigger="every 2s, campaigns-changed from:body"
    hx-swap="outerHTML"
  >
    ${body}
  </div>`;
}

export function campaignsPage(
  cards: CampaignCard[],
  csrf: string,
  message?: { text: string; error: boolean },
): string {
  return page({
    title: 'Campaigns',
    csrf,
    nav: 'campaigns',
    body: html`<div class="heading-row">
        <h1>Campaigns</h1>
        <a class="button" href="/console/new-campaign">New campaign</a>
      </div>
      <div id="notice" aria-live="polite">${notice(message)}</div>
      ${campaignsTable(cards, csrf)}`,
  });
}

/** The confirmation page of a stop (without JavaScript; htmx asks with the browser's confirm). */
export function stopConfirmPage(name: string, csrf: string): string {
  return page({
    title: `Stop ${name}?`,
    csrf,
    nav: 'campaigns',
    body: html`<h1>Stop campaign “${name}”?</h1>
      <p>
        Undialed contacts go back to the table; calls in progress finish and are recorded. The campaign can be
        started again later.
      </p>
      <form method="post" action="${campaignPath(name, '/stop')}" class="inline">
        ${csrfField(csrf)}<button type="submit" class="danger">Stop campaign</button>
        <a href="${campaignPath(name)}">Cancel</a>
      </form>`,
  });
}

/** Runs an action; its result as a notice, or the refusal. */
async function runAction(
  ctx: ConsoleContext,
  name: string,
  action: CampaignAction,
): Promise<Refusal & { error: boolean }> {
  try {
    if (action === 'start') {
      await startCampaign(ctx.campaignDeps, name, {});
      return { status: 200, text: `Started campaign “${name}”.`, error: false };
    }
    const r = await signalCampaign(ctx.campaignDeps, name, action);
    const said = r.changed ? `${r.message[0]!.toUpperCase()}${r.message.slice(1)}.` : r.message;
    return { status: 200, text: said, error: false };
  } catch (err) {
    const refusal = refusalOf(err);
    if (!refusal) throw err;
    return { ...refusal, error: true };
  }
}

export function registerCampaignsPage(
  scope: FastifyInstance,
  ctx: ConsoleContext,
  renderCampaign: CampaignRenderer,
): void {
  scope.get('/', async (req, reply) => {
    const { csrf } = requestView(ctx, req);
    return sendHtml(reply, campaignsPage(await ctx.board.cards(), csrf));
  });
  scope.get('/fragments/campaigns', async (req, reply) => {
    const { csrf } = requestView(ctx, req);
    return sendHtml(reply, campaignsTable(await ctx.board.cards(), csrf).text);
  });
  scope.get<{ Params: { name: string } }>('/campaigns/:name/stop', async (req, reply) => {
    const { csrf } = requestView(ctx, req);
    return sendHtml(reply, stopConfirmPage(req.params.name, csrf));
  });
  scope.post<{ Params: { name: string; action: string }; Body: { _back?: string } }>(
    '/campaigns/:name/:action',
    async (req, reply) => {
      const action = ACTIONS.find((a) => a === req.params.action);
      if (!action) return reply.callNotFound();
      const { csrf, htmx } = requestView(ctx, req);
      const result = await runAction(ctx, req.params.name, action);
      const message = { text: result.text, error: result.error };
      if (htmx) {
        reply.header('HX-Trigger', 'campaigns-changed');
        return sendHtml(reply, notice(message).text, result.status);
      }
      if (req.body?._back === 'campaign')
        return renderCampaign(reply, req.params.name, csrf, message, result.status);
      return sendHtml(reply, campaignsPage(await ctx.board.cards(), csrf, message), result.status);
    },
  );
}

/** The live campaign page with a notice (after an action sent without JavaScript). */
export type CampaignRenderer = (
  reply: import('fastify').FastifyReply,
  name: string,
  csrf: string,
  message: { text: string; error: boolean },
  status: number,
) => Promise<unknown>;
