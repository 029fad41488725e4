import { logEvents } from '../ops/contact-events';
import type { AttemptKey } from './calls';
import type { Deps } from './index';

/**
 * Preview mode's side of the contact workflow (issue 10, item 4): the attempt is offered to the
 * campaign's agents before it is dialed; agents claim, take or skip it through lib/preview.ts.
 */
export const previewActivities = (deps: Deps) => ({
  /**
   * Offers the attempt to the campaign's agents. An offer of the same attempt that was decided
   * (taken, then held back by the calling window) is offered afresh; an open one stays as it is,
   * so a retried offer changes nothing.
   */
  async offerPreview(k: AttemptKey & { workflowId: string }): Promise<void> {
    const { sql } = deps.db;
    await sql`
      insert into preview_offers (campaign_name, contact_id, attempt_no, workflow_id)
      values (${k.campaign}, ${k.contactId}, ${k.attemptNo}, ${k.workflowId})
      on conflict (campaign_name, contact_id, attempt_no) do update set
        offered_at = now(), agent_id = null, claimed_at = null, decision = null, decided_at = null
      where preview_offers.decision is not null`;
    await logEvents(deps.db.db, [
      {
        contactId: k.contactId,
        campaign: k.campaign,
        attemptNo: k.attemptNo,
        kind: 'delayed',
        reason: 'preview: offered to the campaign’s agents, dialed when one takes it',
      },
    ]);
  },

  /**
   * The attempt no longer waits with an agent (the campaign paused, or the calling window held
   * the taken call back): an open offer is withdrawn, and an agent who took it and is on no call
   * is available again.
   */
  async closePreview(k: AttemptKey): Promise<void> {
    await deps.db.sql.begin(async (tx) => {
      const [offer] = await tx<{ agent_id: number | null; decision: string | null }[]>`
        select agent_id, decision from preview_offers
        where campaign_name = ${k.campaign} and contact_id = ${k.contactId} and attempt_no = ${k.attemptNo}
        for update`;
      if (!offer) return;
      if (offer.decision === 'take' && offer.agent_id !== null) {
        await tx`update agents set status = 'available', updated_at = now()
          where id = ${offer.agent_id} and status = 'on-call' and current_call_sid is null`;
      }
      await tx`update preview_offers set decision = 'withdrawn', decided_at = now()
        where campaign_name = ${k.campaign} and contact_id = ${k.contactId} and attempt_no = ${k.attemptNo}
          and (decision is null or decision = 'take')`;
    });
  },
});

export type PreviewActivities = ReturnType<typeof previewActivities>;
