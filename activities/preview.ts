import { freeAgentNeverBridged } from '../db/queries/agents';
import { lockOffer, offerAttempt, withdrawOffer } from '../db/queries/preview-offers';
import { logEvents } from '../ops/contact-events';
import type { AttemptKey } from './calls';
import type { Deps } from './index';

/**
 * Preview mode's side of the contact workflow: the attempt is offered to the campaign's agents
 * before it is dialed; agents claim, take or skip it through ops/preview.ts.
 */
export const previewActivities = (deps: Deps) => ({
  /**
   * Offers the attempt to the campaign's agents. An offer of the same attempt that was decided
   * (taken, then held back by the calling window) is offered afresh; an open one stays as it is,
   * so a retried offer changes nothing.
   */
  async offerPreview(k: AttemptKey & { workflowId: string }): Promise<void> {
    await offerAttempt(deps.db.sql, k);
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
    await deps.db.db.transaction(async (tx) => {
      const offer = await lockOffer(tx, k);
      if (!offer) return;
      if (offer.decision === 'take' && offer.agentId !== null) await freeAgentNeverBridged(tx, offer.agentId);
      await withdrawOffer(tx, k);
    });
  },
});

export type PreviewActivities = ReturnType<typeof previewActivities>;
