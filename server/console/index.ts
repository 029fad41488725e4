/**
 * The operator's console under /console, on the server's own port: server-rendered pages with
 * htmx for the live parts (docs/development.md, "Operator console"). One module per screen; the
 * sign-in and its safety in auth.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { registerAssets } from './assets';
import { isHtmx, registerAuthHooks } from './auth';
import { registerCampaignEdit } from './campaign-edit';
import { registerCampaignPage } from './campaign-page';
import { registerCampaignsPage } from './campaigns-page';
import { registerContactPage } from './contact-page';
import { registerContactsPage } from './contacts-page';
import { registerImportPage } from './import-page';
import { registerDncPage } from './dnc-page';
import { registerAgentsPage } from './agents-page';
import { type ConsoleDeps, consoleContext, refusalOf, sendHtml } from './context';
import { html, notice, page } from './html';
import { registerSignIn } from './sign-in';

export type { ConsoleDeps };

/**
 * No script but our two files, no style but our sheet, no framing, forms only to ourselves: what
 * keeps a value that slipped past the escaping from doing anything.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

function securityHeaders(scope: FastifyInstance): void {
  scope.addHook('onSend', async (_req, reply, payload) => {
    reply.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    reply.header('X-Frame-Options', 'DENY');
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'same-origin');
    return payload;
  });
}

/** A refusal on the page (or in the notice, for htmx); anything else is logged and a 500. */
function handleConsoleError(err: unknown, req: FastifyRequest, reply: FastifyReply) {
  const refusal = refusalOf(err);
  const status = refusal?.status ?? (err as { statusCode?: number }).statusCode ?? 500;
  const text =
    refusal?.text ??
    (status < 500 ? 'The request was not understood.' : 'Something went wrong; see the server log.');
  if (!refusal && status >= 500) req.log.error({ err }, 'console request failed');
  else req.log.info({ status }, `console request refused: ${text}`);
  if (isHtmx(req)) return sendHtml(reply, notice({ text, error: true }).text, status);
  const body = html`<p><a href="/console">← All campaigns</a></p>
    <h1>Not done</h1>
    ${notice({ text, error: true })}`;
  return sendHtml(reply, page({ title: 'Not done', body }), status);
}

export async function registerConsole(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  const ctx = consoleContext(deps);
  await app.register(
    async (scope) => {
      securityHeaders(scope);
      registerAuthHooks(scope, ctx);
      scope.setErrorHandler(handleConsoleError);
      scope.setNotFoundHandler((_req, reply) =>
        sendHtml(
          reply,
          page({
            title: 'Not found',
            body: html`<h1>Not found</h1>
              <p><a href="/console">All campaigns</a></p>`,
          }),
          404,
        ),
      );
      registerAssets(scope);
      registerSignIn(scope, ctx);
      const renderCampaign = registerCampaignPage(scope, ctx);
      registerCampaignsPage(scope, ctx, renderCampaign);
      registerCampaignEdit(scope, ctx);
      registerContactsPage(scope, ctx);
      registerContactPage(scope, ctx);
      registerImportPage(scope, ctx);
      registerDncPage(scope, ctx);
      registerAgentsPage(scope, ctx);
    },
    { prefix: '/console' },
  );
}
