/**
 * The do-not-call list (GET /console/dnc): its numbers masked, by number; adding
 * one number, removing one (typed, since the list shows none whole), and adding a pasted list, one
 * number per line, all or nothing (ops/dnc.ts addDncLines: with any bad line nothing is added and
 * each is shown by its line number). Numbers are normalised to E.164 in DEFAULT_REGION as
 * `dialer dnc` does; the placing step checks the list before every call, so a contact whose number
 * is added ends Banned (1000) when its campaign reaches it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { maskPhone } from '../../infra/logger';
import { type DncEntry, addDncLines, addToDnc, listDnc, normaliseAll, removeFromDnc } from '../../ops/dnc';
import { maskNumbersIn } from './contact-page';
import { type ConsoleContext, refusalOf, requestView, sendHtml } from './context';
import { type Html, csrfField, html, notice, page, timeText } from './html';

/** The list may be long: the page shows this many, and says so. */
const SHOWN = 500;

function listPart(entries: DncEntry[]): Html {
  const body =
    entries.length === 0
      ? html`<p class="empty">The list is empty.</p>`
      : html`<table>
          <caption>
            ${entries.length}
            number${entries.length === 1 ? '' : 's'}${entries.length > SHOWN ? `, the first ${SHOWN} shown` : ''}
          </caption>
          <thead>
            <tr>
              <th scope="col">Number</th>
              <th scope="col">Reason</th>
              <th scope="col">Added</th>
            </tr>
          </thead>
          <tbody>
            ${entries.slice(0, SHOWN).map(
              (e) =>
                html`<tr>
                  <td>${maskPhone(e.phoneNumber)}</td>
                  <td>${e.reason ?? '—'}</td>
                  <td>${timeText(e.createdAt)}</td>
                </tr>`,
            )}
          </tbody>
        </table>`;
  return html`<div
    id="dnc-list"
    hx-get="/console/dnc/list"
    hx-trigger="dnc-changed from:body"
    hx-swap="outerHTML"
  >
    ${body}
  </div>`;
}

function dncForm(csrf: string, action: 'add' | 'remove' | 'import', inner: Html): Html {
  const url = `/console/dnc/${action}`;
  return html`<form
    method="post"
    action="${url}"
    hx-post="${url}"
    hx-target="#notice"
    hx-swap="innerHTML"
    class="stack narrow"
  >
    ${csrfField(csrf)}${inner}
  </form>`;
}

function forms(csrf: string): Html {
  return html`<div class="columns">
    <section aria-labelledby="h-add">
      <h2 id="h-add">Add a number</h2>
      ${dncForm(
        csrf,
        'add',
        html`<label for="dnc-add">Number</label
          ><input id="dnc-add" name="number" required autocomplete="off" />
          <label for="dnc-add-reason">Reason (optional)</label><input id="dnc-add-reason" name="reason" />
          <button type="submit">Add</button>`,
      )}
      <h2 id="h-remove">Remove a number</h2>
      ${dncForm(
        csrf,
        'remove',
        html`<label for="dnc-remove">Number</label
          ><input id="dnc-remove" name="number" required autocomplete="off" />
          <button type="submit" class="danger">Remove</button>`,
      )}
    </section>
    <section aria-labelledby="h-import">
      <h2 id="h-import">Add a list</h2>
      ${dncForm(
        csrf,
        'import',
        html`<label for="dnc-lines">Numbers, one per line</label>
          <textarea id="dnc-lines" name="lines" rows="8" required spellcheck="false"></textarea>
          <label for="dnc-import-reason">Reason (optional)</label
          ><input id="dnc-import-reason" name="reason" />
          <p class="hint">With any line that is not a number, nothing is added.</p>
          <button type="submit">Add the list</button>`,
      )}
    </section>
  </div>`;
}

export function dncPage(o: { csrf: string; entries: DncEntry[]; answer?: Html }): string {
  return page({
    title: 'Do-not-call',
    csrf: o.csrf,
    nav: 'dnc',
    body: html`<h1>Do-not-call list</h1>
      <div id="notice" aria-live="polite">${o.answer ?? ''}</div>
      ${forms(o.csrf)}
      <section aria-labelledby="h-list">
        <h2 id="h-list">On the list</h2>
        ${listPart(o.entries)}
      </section>`,
  });
}

type DncBody = { number?: unknown; reason?: unknown; lines?: unknown };
const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
const ok = (t: string) => notice({ text: t, error: false });

function badLines(bad: { line: number; message: string }[]): Html {
  return html`${notice({ text: `Nothing was added: ${bad.length} line${bad.length === 1 ? ' is' : 's are'} not a number.`, error: true })}
    <table>
      <thead>
        <tr>
          <th scope="col">Line</th>
          <th scope="col">Problem</th>
        </tr>
      </thead>
      <tbody>
        ${bad.map(
          (b) =>
            html`<tr>
              <td>${b.line}</td>
              <td>${maskNumbersIn(b.message)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

/** One action's answer; a refusal is thrown. */
async function runDnc(
  ctx: ConsoleContext,
  action: string,
  body: DncBody,
): Promise<{ answer: Html; status: number }> {
  const reason = text(body.reason) || null;
  if (action === 'import') {
    const r = await addDncLines(ctx.db.sql, text(body.lines), { defaultRegion: ctx.defaultRegion, reason });
    if (!r.imported)
      return {
        answer: r.rows === 0 ? notice({ text: 'No number given.', error: true }) : badLines(r.bad),
        status: 422,
      };
    return {
      answer: ok(`Added ${r.added} number${r.added === 1 ? '' : 's'}; ${r.alreadyListed} already listed.`),
      status: 200,
    };
  }
  const [number] = normaliseAll([text(body.number)], ctx.defaultRegion);
  if (action === 'add') {
    const r = await addToDnc(ctx.db.sql, [number!], reason);
    return {
      answer: ok(r.added ? `Added ${maskPhone(number)}.` : `${maskPhone(number)} was already listed.`),
      status: 200,
    };
  }
  const r = await removeFromDnc(ctx.db.sql, [number!]);
  return {
    answer: ok(r.removed.length ? `Removed ${maskPhone(number)}.` : `${maskPhone(number)} was not listed.`),
    status: 200,
  };
}

export function registerDncPage(scope: FastifyInstance, ctx: ConsoleContext): void {
  scope.get('/dnc', async (req, reply) =>
    sendHtml(reply, dncPage({ csrf: requestView(ctx, req).csrf, entries: await listDnc(ctx.db.sql) })),
  );
  scope.get('/dnc/list', async (_req, reply) => sendHtml(reply, listPart(await listDnc(ctx.db.sql)).text));
  scope.post<{ Params: { action: string }; Body: DncBody }>(
    '/dnc/:action',
    async (req: FastifyRequest<{ Params: { action: string }; Body: DncBody }>, reply) => {
      const action = req.params.action;
      if (!['add', 'remove', 'import'].includes(action)) return reply.callNotFound();
      const { csrf, htmx } = requestView(ctx, req);
      let done: { answer: Html; status: number };
      try {
        done = await runDnc(ctx, action, req.body ?? {});
        if (done.status === 200) req.log.info({ action }, 'console: do-not-call list changed');
      } catch (err) {
        const refusal = refusalOf(err);
        if (!refusal) throw err;
        done = { answer: notice({ text: maskNumbersIn(refusal.text), error: true }), status: refusal.status };
      }
      if (htmx) {
        reply.header('HX-Trigger', 'dnc-changed');
        return sendHtml(reply, done.answer.text, done.status);
      }
      return sendHtml(
        reply,
        dncPage({ csrf, entries: await listDnc(ctx.db.sql), answer: done.answer }),
        done.status,
      );
    },
  );
}
