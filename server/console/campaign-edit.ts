/**
 * Creating a campaign (GET/POST /console/new-campaign) and changing its settings
 * (GET/POST /console/campaigns/:name/edit): plain forms, checked field by field; a refusal of the
 * operation (a name taken, a campaign gone) is shown above the form with what was typed.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DEFAULT_RETRY_RULES } from '../../domain/contract';
import {
  type CampaignChanges,
  createCampaign,
  requireCampaign,
  updateCampaign,
} from '../../ops/campaign-operations';
import type { NewCampaign } from '../../db/queries/campaigns';
import {
  type FieldErrors,
  type FormMode,
  type FormTexts,
  campaignForm,
  changedSettings,
  formTexts,
  parseCampaignForm,
} from './campaign-form';
import { type ConsoleContext, refusalOf, requestView, sendHtml } from './context';
import { campaignPath, html, page } from './html';

interface FormPage {
  mode: FormMode;
  name?: string;
  csrf: string;
  texts: FormTexts;
  errors?: FieldErrors;
  callerId?: string;
  refusal?: string;
}

export function campaignFormPage(o: FormPage): string {
  const title = o.mode === 'create' ? 'New campaign' : `Edit ${o.name}`;
  const action = o.mode === 'create' ? '/console/new-campaign' : campaignPath(o.name!, '/edit');
  const back = o.mode === 'create' ? '/console' : campaignPath(o.name!);
  return page({
    title,
    csrf: o.csrf,
    nav: 'campaigns',
    body: html`<p><a href="${back}">← Back</a></p>
      <h1>${o.mode === 'create' ? 'New campaign' : html`Edit campaign “${o.name}”`}</h1>
      ${campaignForm({ mode: o.mode, action, csrf: o.csrf, texts: o.texts, errors: o.errors ?? {}, callerId: o.callerId, refusal: o.refusal })}`,
  });
}

/** The submitted texts, to show again with what is wrong. */
function submittedTexts(body: Record<string, unknown>): FormTexts {
  const texts: FormTexts = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string') texts[k as keyof FormTexts] = v;
  return texts;
}

/** The operation's refusal, shown above the form (a field it names is marked too). */
async function withRefusal(reply: FastifyReply, o: FormPage, err: unknown) {
  const refusal = refusalOf(err);
  if (!refusal) throw err;
  const field = (err as { field?: string }).field?.replace(/^\//, '');
  const errors = field && field in o.texts ? { [field]: refusal.text } : {};
  return sendHtml(reply, campaignFormPage({ ...o, errors, refusal: refusal.text }), refusal.status);
}

function registerCreate(scope: FastifyInstance, ctx: ConsoleContext): void {
  scope.get('/new-campaign', async (req, reply) =>
    sendHtml(
      reply,
      campaignFormPage({ mode: 'create', csrf: requestView(ctx, req).csrf, texts: formTexts(undefined) }),
    ),
  );
  scope.post<{ Body: Record<string, unknown> }>('/new-campaign', async (req, reply) => {
    const body = req.body ?? {};
    const o: FormPage = { mode: 'create', csrf: requestView(ctx, req).csrf, texts: submittedTexts(body) };
    const parsed = parseCampaignForm(body, 'create');
    if (!parsed.ok) return sendHtml(reply, campaignFormPage({ ...o, errors: parsed.errors }), 400);
    const values = { ...parsed.values, retryRules: DEFAULT_RETRY_RULES } as NewCampaign;
    try {
      const row = await createCampaign(ctx.db, values);
      req.log.info({ campaign: row.name }, 'console: campaign created');
      return reply.redirect(campaignPath(row.name), 303);
    } catch (err) {
      return withRefusal(reply, o, err);
    }
  });
}

function registerEdit(scope: FastifyInstance, ctx: ConsoleContext): void {
  scope.get<{ Params: { name: string } }>('/campaigns/:name/edit', async (req, reply) => {
    const row = await requireCampaign(ctx.db, req.params.name);
    const texts = formTexts(row as unknown as Record<string, unknown>);
    const o = {
      mode: 'edit' as const,
      name: row.name,
      csrf: requestView(ctx, req).csrf,
      callerId: row.callerId,
    };
    return sendHtml(reply, campaignFormPage({ ...o, texts }));
  });
  scope.post<{ Params: { name: string }; Body: Record<string, unknown> }>(
    '/campaigns/:name/edit',
    async (req, reply) => {
      const body = req.body ?? {};
      const name = req.params.name;
      const o: FormPage = {
        mode: 'edit',
        name,
        csrf: requestView(ctx, req).csrf,
        texts: submittedTexts(body),
      };
      try {
        const row = await requireCampaign(ctx.db, name);
        o.callerId = row.callerId;
        const parsed = parseCampaignForm(body, 'edit');
        if (!parsed.ok) return sendHtml(reply, campaignFormPage({ ...o, errors: parsed.errors }), 400);
        const changes: CampaignChanges = changedSettings(
          parsed.values,
          row as unknown as Record<string, unknown>,
        );
        if (Object.keys(changes).length > 0) {
          await updateCampaign(ctx.campaignDeps, name, changes);
          req.log.info({ campaign: name, changed: Object.keys(changes) }, 'console: campaign updated');
        }
        return reply.redirect(campaignPath(name), 303);
      } catch (err) {
        return withRefusal(reply, o, err);
      }
    },
  );
}

export function registerCampaignEdit(scope: FastifyInstance, ctx: ConsoleContext): void {
  registerCreate(scope, ctx);
  registerEdit(scope, ctx);
}
