/**
 * Contacts (GET /console/contacts): a search by id, the last digits of the number or a name,
 * sent as a POST (POST /console/contacts/search) so that no digits reach a URL; the results list
 * each contact by id with its number masked. One contact's page is contact-page.ts.
 */
import type { FastifyInstance } from 'fastify';
import { contactSuccessfulName, lastStateName } from '../../domain/contract';
import { maskPhone } from '../../infra/logger';
import { SEARCH_LIMIT, findContacts } from '../../ops/contact-lookup';
import type { ContactSearchRow } from '../../db/queries/contacts';
import { type ConsoleContext, refusalOf, requestView, sendHtml } from './context';
import { type Html, campaignPath, csrfField, html, notice, page } from './html';

type Message = { text: string; error: boolean };

/** The console's URL of one contact (named by its id, never its number). */
export const contactPath = (id: number | string, rest = '') => `/console/contacts/${id}${rest}`;

/** "Successful (1)": a ContactSuccessful by its name. */
export const successText = (cs: number) => `${contactSuccessfulName(cs) ?? 'unknown'} (${cs})`;
/** "Busy (1)" / "—": a LastState by its name. */
export const lastStateText = (ls: number | null) =>
  ls === null ? '—' : `${lastStateName(ls) ?? 'unknown'} (${ls})`;

const numberText = (n: string | null) => (n ? maskPhone(n) : '—');

function searchForm(csrf: string, text: string): Html {
  return html`<form
    method="post"
    action="/console/contacts/search"
    hx-post="/console/contacts/search"
    hx-target="#results"
    hx-swap="innerHTML"
    class="search"
  >
    ${csrfField(csrf)}
    <label for="q">Id, last digits of the number, or name</label>
    <input id="q" name="q" type="search" value="${text}" autocomplete="off" required />
    <button type="submit">Search</button>
  </form>`;
}

export function resultsTable(rows: ContactSearchRow[]): Html {
  if (rows.length === 0) return html`<p class="empty">No contact found.</p>`;
  return html`<table>
      <thead>
        <tr>
          <th scope="col">Contact</th>
          <th scope="col">Number</th>
          <th scope="col">Name</th>
          <th scope="col">Campaign</th>
          <th scope="col">ContactSuccessful</th>
          <th scope="col">LastState</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (r) =>
            html`<tr>
              <td><a href="${contactPath(r.id)}">#${r.id}</a></td>
              <td>${numberText(r.phone_number)}</td>
              <td>${r.name ?? '—'}</td>
              <td>
                ${r.campaign_name ? html`<a href="${campaignPath(r.campaign_name)}">${r.campaign_name}</a>` : '—'}
              </td>
              <td>${successText(r.contact_successful)}</td>
              <td>${lastStateText(r.last_state)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${rows.length === SEARCH_LIMIT ? html`<p class="hint">The first ${SEARCH_LIMIT} shown; narrow the search.</p>` : ''}`;
}

/** The search's answer: the table, or what was wrong with the search. */
function resultsPart(rows: ContactSearchRow[] | undefined, message?: Message): Html {
  return html`${notice(message)}${rows ? resultsTable(rows) : ''}`;
}

export function contactsPage(o: {
  csrf: string;
  text?: string;
  rows?: ContactSearchRow[];
  message?: Message;
}) {
  return page({
    title: 'Contacts',
    csrf: o.csrf,
    nav: 'contacts',
    body: html`<div class="heading-row">
        <h1>Contacts</h1>
        <a href="/console/import">Import contacts from a CSV</a>
      </div>
      ${searchForm(o.csrf, o.text ?? '')}
      <div id="results" aria-live="polite">${resultsPart(o.rows, o.message)}</div>`,
  });
}

/** A search text shown again only when it holds no digits (a typed number stays out of the page). */
const echoed = (text: string) => (/\d/.test(text) ? '' : text);

export function registerContactsPage(scope: FastifyInstance, ctx: ConsoleContext): void {
  scope.get('/contacts', async (req, reply) =>
    sendHtml(reply, contactsPage({ csrf: requestView(ctx, req).csrf })),
  );
  scope.post<{ Body: { q?: string } }>('/contacts/search', async (req, reply) => {
    const { csrf, htmx } = requestView(ctx, req);
    const text = typeof req.body?.q === 'string' ? req.body.q : '';
    let rows: ContactSearchRow[] | undefined;
    let message: Message | undefined;
    let status = 200;
    try {
      rows = await findContacts(ctx.db.sql, text);
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      message = { text: refusal.text, error: true };
      status = refusal.status;
    }
    if (htmx) return sendHtml(reply, resultsPart(rows, message).text, status);
    return sendHtml(reply, contactsPage({ csrf, text: echoed(text), rows, message }), status);
  });
}
