/**
 * One contact (GET /console/contacts/:id): its row, the number masked until "Show number" posts
 * for it (POST …/number, the one answer of the console that holds a full number), its attempts
 * with their outcomes, its decisions oldest first (what `dialer contacts why` prints), and the
 * actions: redial at a time, release from a campaign's cache, reset. The part below the heading is
 * fetched again (GET …/detail) after each action.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { maskPhone } from '../../infra/logger';
import { type ContactDetail, contactDetail, contactNumber } from '../../ops/contact-lookup';
import { parseTime, pushRedial, releaseContact, resetContact } from '../../ops/contact-operations';
import { type ConsoleContext, refusalOf, requestView, sendHtml } from './context';
import { contactPath, lastStateText, successText } from './contacts-page';
import { type Html, campaignPath, csrfField, html, notice, page, timeText } from './html';

type Message = { text: string; error: boolean };

/** A number quoted in a decision's reason (as it was written), masked like any other; ids (a call's SID) are left whole. */
export const maskNumbersIn = (text: string) =>
  text.replace(/(?<![\w+])\+?\d[\d ().-]{5,}\d(?!\w)/g, (m) => maskPhone(m.replace(/[^\d+]/g, '')));

const when = (d: Date | string | null) => (d === null ? '—' : timeText(new Date(d).toISOString()));

/** The number masked, with the button that shows it in place. */
function numberCell(id: string, phone: string | null, csrf: string, shown?: string): Html {
  if (!phone) return html`—`;
  if (shown !== undefined) return html`<span id="number" class="number">${shown}</span>`;
  return html`<span id="number" class="number"
    >${maskPhone(phone)}
    <form
      method="post"
      action="${contactPath(id, '/number')}"
      hx-post="${contactPath(id, '/number')}"
      hx-target="#number"
      hx-swap="outerHTML"
      class="inline"
    >
      ${csrfField(csrf)}<button type="submit">Show number</button>
    </form></span
  >`;
}

function rowFigures(d: ContactDetail, csrf: string, shown?: string): Html {
  const r = d.row;
  const id = String(r.id);
  const item = (label: string, value: Html | string | number) =>
    html`<div>
      <dt>${label}</dt>
      <dd>${value}</dd>
    </div>`;
  return html`<dl class="figures">
    ${item('Campaign', r.campaign_name ? html`<a href="${campaignPath(r.campaign_name)}">${r.campaign_name}</a>` : '—')}
    ${item('Number', numberCell(id, r.phone_number, csrf, shown))} ${item('Name', r.name ?? '—')}
    ${item('Time zone', r.time_zone ?? '—')} ${item('ContactSuccessful', successText(r.contact_successful))}
    ${item('LastState', lastStateText(r.last_state))} ${item('Attempts', r.number_of_contacts)}
    ${item('Redial time', when(r.redial_time))}
  </dl>`;
}

function actionForm(id: string, action: string, csrf: string, inner: Html): Html {
  const url = contactPath(id, `/${action}`);
  return html`<form method="post" action="${url}" hx-post="${url}" hx-target="#notice" hx-swap="innerHTML">
    ${csrfField(csrf)}${inner}
  </form>`;
}

function actions(id: string, csrf: string): Html {
  return html`<div class="actions">
    ${actionForm(
      id,
      'redial',
      csrf,
      html`<label for="redial-at">Redial at</label>
        <input id="redial-at" name="at" required placeholder="+2h or 2026-12-01T09:30:00+01:00" />
        <button type="submit">Redial</button>`,
    )}
    ${actionForm(id, 'release', csrf, html`<button type="submit">Release from the campaign</button>`)}
    ${actionForm(id, 'reset', csrf, html`<button type="submit">Reset to a new contact</button>`)}
  </div>`;
}

function attemptsTable(d: ContactDetail): Html {
  if (d.attempts.length === 0) return html`<p class="empty">No attempt yet.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th scope="col">Campaign</th>
        <th scope="col">Attempt</th>
        <th scope="col">Placed</th>
        <th scope="col">Started</th>
        <th scope="col">Ended</th>
        <th scope="col">Outcome (LastState)</th>
      </tr>
    </thead>
    <tbody>
      ${d.attempts.map(
        (a) =>
          html`<tr>
            <td>${a.campaign_name}</td>
            <td>#${a.attempt_no}</td>
            <td>${a.placed ? 'yes' : 'no'}</td>
            <td>${when(a.created_at)}</td>
            <td>${when(a.ended_at)}</td>
            <td>${lastStateText(a.last_state)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function timeline(d: ContactDetail): Html {
  if (d.events.length === 0)
    return html`<p class="empty">No decision recorded yet (not taken into a campaign’s cache).</p>`;
  return html`<ol class="timeline">
    ${d.events.map(
      (e) =>
        html`<li>
          <time datetime="${e.at}">${timeText(e.at)}</time>
          <span class="kind kind-${e.kind}">${e.kind}</span>
          <span>${e.campaign ?? '—'}${e.attemptNo === null ? '' : ` #${e.attemptNo}`}</span>
          <span class="reason"
            >${maskNumbersIn(e.reason)}${e.until ? ` (until ${timeText(e.until)})` : ''}</span
          >
        </li>`,
    )}
  </ol>`;
}

/** The part fetched again after an action. */
export function contactDetailFragment(d: ContactDetail, csrf: string, shown?: string): Html {
  const id = String(d.row.id);
  return html`<div
    id="contact"
    hx-get="${contactPath(id, '/detail')}"
    hx-trigger="contact-changed from:body"
    hx-swap="outerHTML"
  >
    ${rowFigures(d, csrf, shown)} ${actions(id, csrf)}
    <section aria-labelledby="h-attempts">
      <h2 id="h-attempts">Attempts</h2>
      ${attemptsTable(d)}
    </section>
    <section aria-labelledby="h-timeline">
      <h2 id="h-timeline">Decisions, oldest first</h2>
      ${timeline(d)}
    </section>
  </div>`;
}

export function contactPage(
  d: ContactDetail,
  o: { csrf: string; message?: Message; shown?: string },
): string {
  return page({
    title: `Contact #${d.row.id}`,
    csrf: o.csrf,
    nav: 'contacts',
    body: html`<p><a href="/console/contacts">← Contacts</a></p>
      <h1>Contact #${d.row.id}</h1>
      <div id="notice" aria-live="polite">${notice(o.message)}</div>
      ${contactDetailFragment(d, o.csrf, o.shown)}`,
  });
}

type ContactAction = 'redial' | 'release' | 'reset';
const CONTACT_ACTIONS: readonly ContactAction[] = ['redial', 'release', 'reset'];

const REDIAL_HOW = {
  cached: 'its campaign holds it and moved its time',
  queued: 'its campaign wrote the redial',
  'queued-campaign-not-running': 'written to the row; its campaign is not running and dials it when it runs',
} as const;

/** One action done, in words; a refusal is thrown (an OperationError). */
async function runContactAction(ctx: ConsoleContext, id: number, action: ContactAction, at: string) {
  const deps = { sql: ctx.db.sql, temporal: ctx.temporal };
  if (action === 'redial') {
    const r = await pushRedial(deps, id, parseTime(at, ctx.clock?.() ?? new Date()));
    return `Contact #${id}: redial at ${timeText(r.at)}: ${REDIAL_HOW[r.how]}${r.reason ? ` (${r.reason})` : ''}.`;
  }
  if (action === 'release') {
    const r = await releaseContact(deps, id);
    return r.outcome === 'released'
      ? `Contact #${id} released: no campaign takes it for 10 minutes.`
      : `Contact #${id} is being dialed now: it is released when its call ends.`;
  }
  const r = await resetContact(deps, id);
  return `Contact #${id} reset: ${successText(r.contactSuccessful)}, attempts back to 0.`;
}

const idOf = (text: string) => (/^\d{1,15}$/.test(text) ? Number(text) : NaN);

export function registerContactPage(scope: FastifyInstance, ctx: ConsoleContext): void {
  const render = async (
    reply: FastifyReply,
    id: number,
    csrf: string,
    o: { message?: Message; shown?: string; status?: number } = {},
  ) => sendHtml(reply, contactPage(await contactDetail(ctx.db.sql, id), { csrf, ...o }), o.status ?? 200);
  scope.get<{ Params: { id: string } }>('/contacts/:id', async (req, reply) =>
    render(reply, idOf(req.params.id), requestView(ctx, req).csrf),
  );
  scope.get<{ Params: { id: string } }>('/contacts/:id/detail', async (req, reply) => {
    const d = await contactDetail(ctx.db.sql, idOf(req.params.id));
    return sendHtml(reply, contactDetailFragment(d, requestView(ctx, req).csrf).text);
  });
  scope.post<{ Params: { id: string } }>('/contacts/:id/number', async (req, reply) => {
    const id = idOf(req.params.id);
    const number = (await contactNumber(ctx.db.sql, id)) ?? '—';
    req.log.info({ contact: id }, 'console: a contact’s number shown');
    const { csrf, htmx } = requestView(ctx, req);
    if (htmx) return sendHtml(reply, html`<span id="number" class="number">${number}</span>`.text);
    return render(reply, id, csrf, { shown: number });
  });
  scope.post<{ Params: { id: string; action: string }; Body: { at?: unknown } }>(
    '/contacts/:id/:action',
    async (req, reply) => {
      const action = CONTACT_ACTIONS.find((a) => a === req.params.action);
      if (!action) return reply.callNotFound();
      const id = idOf(req.params.id);
      const { csrf, htmx } = requestView(ctx, req);
      let message: Message;
      let status = 200;
      try {
        const at = typeof req.body?.at === 'string' ? req.body.at : '';
        message = { text: await runContactAction(ctx, id, action, at), error: false };
        req.log.info({ contact: id, action }, 'console: contact action done');
      } catch (err) {
        const refusal = refusalOf(err);
        if (!refusal) throw err;
        message = { text: refusal.text, error: true };
        status = refusal.status;
      }
      if (htmx) {
        reply.header('HX-Trigger', 'contact-changed');
        return sendHtml(reply, notice(message).text, status);
      }
      return render(reply, id, csrf, { message, status });
    },
  );
}
