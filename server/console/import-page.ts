/**
 * Importing contacts (GET /console/import): a CSV pasted into the form, in the format of
 * `dialer contacts import` (ops/contact-import.ts). "Check" (POST /console/import/check) reads every
 * row and writes nothing: the bad lines come back as a table, each with its line number. "Import"
 * (POST /console/import) imports all or nothing: with any bad line it writes nothing and shows
 * them. The text is never sent back (it holds numbers): with htmx only the answer is swapped, so
 * the text stays in its field; numbers quoted in a problem are masked.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ImportResult, importContactsText, importableCampaigns } from '../../ops/contact-import';
import { maskNumbersIn } from './contact-page';
import { type ConsoleContext, refusalOf, requestView, sendHtml } from './context';
import { type Html, csrfField, html, notice, page } from './html';

/** A pasted CSV may be large: 10 MiB (about 200 000 short rows) instead of fastify's 1 MiB. */
const IMPORT_BODY_LIMIT = 10 * 1024 * 1024;

type Message = { text: string; error: boolean };

function importForm(csrf: string, campaigns: string[], chosen: string): Html {
  return html`<form id="import-form" method="post" action="/console/import/check" class="stack">
    ${csrfField(csrf)}
    <div class="field">
      <label for="import-campaign">Campaign</label>
      <select id="import-campaign" name="campaign">
        <option value="">The file’s campaign_name column</option>
        ${campaigns.map((c) => html`<option value="${c}" ${c === chosen ? html`selected` : ''}>${c}</option>`)}
      </select>
    </div>
    <div class="field">
      <label for="import-file">CSV file</label>
      <input type="file" id="import-file" accept=".csv,text/csv,text/plain" data-fills="import-csv" />
      <p class="hint">Read in your browser into the box below; or paste the CSV there.</p>
    </div>
    <div class="field">
      <label for="import-csv">CSV (header row first)</label>
      <textarea id="import-csv" name="csv" rows="12" required spellcheck="false"></textarea>
      <p class="hint">
        Columns: phone_number (required), campaign_name, name, time_zone (IANA), redial_time (ISO 8601 with a
        zone); any other column goes into the contact’s data.
      </p>
    </div>
    <div class="actions">
      <button type="submit" hx-post="/console/import/check" hx-target="#import-result" hx-swap="innerHTML">
        Check
      </button>
      <button
        type="submit"
        formaction="/console/import"
        hx-post="/console/import"
        hx-target="#import-result"
        hx-swap="innerHTML"
      >
        Import
      </button>
    </div>
  </form>`;
}

function problemsTable(r: ImportResult): Html {
  return html`<table>
    <caption>
      ${r.bad.length} line${r.bad.length === 1 ? '' : 's'} to correct
    </caption>
    <thead>
      <tr>
        <th scope="col">Line</th>
        <th scope="col">Problem</th>
      </tr>
    </thead>
    <tbody>
      ${r.bad.map(
        (b) =>
          html`<tr>
            <td>${b.line}</td>
            <td>${maskNumbersIn(b.message)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** What a check or an import found and did. */
export function importAnswer(r: ImportResult, step: 'check' | 'import'): Html {
  if (r.bad.length > 0) {
    const text = `Nothing was imported: ${r.bad.length} of ${r.rows} rows have problems; correct them and check again.`;
    return html`${notice({ text, error: true })}${problemsTable(r)}`;
  }
  if (step === 'check') {
    const text = `No problems in ${r.rows} row${r.rows === 1 ? '' : 's'}; nothing written yet.`;
    return html`${notice({ text, error: false })}
      <button
        type="button"
        hx-post="/console/import"
        hx-include="#import-form"
        hx-target="#import-result"
        hx-swap="innerHTML"
      >
        Import ${r.rows} contact${r.rows === 1 ? '' : 's'}
      </button>`;
  }
  const per = Object.entries(r.byCampaign).map(([c, n]) => `${n} into “${c}”`);
  const total = Object.values(r.byCampaign).reduce((a, b) => a + b, 0);
  return notice({
    text: `Imported ${total} contact${total === 1 ? '' : 's'}: ${per.join(', ')}.`,
    error: false,
  });
}

export function importPage(o: {
  csrf: string;
  campaigns: string[];
  chosen?: string;
  answer?: Html;
  message?: Message;
}) {
  return page({
    title: 'Import contacts',
    csrf: o.csrf,
    nav: 'contacts',
    body: html`<p><a href="/console/contacts">← Contacts</a></p>
      <h1>Import contacts</h1>
      ${importForm(o.csrf, o.campaigns, o.chosen ?? '')}
      <div id="import-result" aria-live="polite">${notice(o.message)}${o.answer ?? ''}</div>`,
  });
}

type ImportBody = { campaign?: unknown; csv?: unknown };

async function runImport(
  ctx: ConsoleContext,
  req: FastifyRequest<{ Body: ImportBody }>,
  step: 'check' | 'import',
) {
  const campaign =
    typeof req.body?.campaign === 'string' && req.body.campaign ? req.body.campaign : undefined;
  const csv = typeof req.body?.csv === 'string' ? req.body.csv : '';
  try {
    const r = await importContactsText(ctx.db.sql, csv, {
      defaultRegion: ctx.defaultRegion,
      campaign,
      checkOnly: step === 'check',
    });
    if (r.imported) req.log.info({ byCampaign: r.byCampaign }, 'console: contacts imported');
    return { campaign, answer: importAnswer(r, step), status: r.bad.length ? 422 : 200 };
  } catch (err) {
    const refusal = refusalOf(err);
    if (!refusal) throw err;
    return { campaign, answer: notice({ text: refusal.text, error: true }), status: refusal.status };
  }
}

export function registerImportPage(scope: FastifyInstance, ctx: ConsoleContext): void {
  scope.get('/import', async (req, reply) =>
    sendHtml(
      reply,
      importPage({ csrf: requestView(ctx, req).csrf, campaigns: await importableCampaigns(ctx.db.sql) }),
    ),
  );
  for (const [url, step] of [
    ['/import/check', 'check'],
    ['/import', 'import'],
  ] as const) {
    scope.post<{ Body: ImportBody }>(url, { bodyLimit: IMPORT_BODY_LIMIT }, async (req, reply) => {
      const { csrf, htmx } = requestView(ctx, req);
      const done = await runImport(ctx, req, step);
      if (htmx) return sendHtml(reply, done.answer.text, done.status);
      const campaigns = await importableCampaigns(ctx.db.sql);
      return sendHtml(
        reply,
        importPage({ csrf, campaigns, chosen: done.campaign, answer: done.answer }),
        done.status,
      );
    });
  }
}
