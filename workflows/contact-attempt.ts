import { condition, setCurrentDetails } from '@temporalio/workflow';
import { CallStatusTracker } from './call-status-tracker';
import {
  type CallFacts,
  type ContactSuccessful,
  LastState,
  contactSuccessfulName,
  lastStateName,
} from '../domain/contract';
import {
  type AttemptResult,
  type CallContactInput,
  type CallStatusEvent,
  type ContactStatusView,
} from './shared';

type Phase = ContactStatusView['phase'];

/** A preview agent's answer: take the contact (then it is dialed) or skip it. */
export interface PreviewDecision {
  decision: 'take' | 'skip';
  agent: string;
  holdMs?: number;
}

/**
 * One attempt's state: when it is due, whether it holds one of the campaign's lines, whether it
 * was withdrawn, where it is (the phase the status query shows), the call's callbacks. Every
 * message the contact workflow takes is one method here; the workflow function drives the steps.
 */
export class ContactAttempt {
  readonly tracker = new CallStatusTracker();
  dueAt: string | null;
  hasLine: boolean;
  /** The campaign or an agent took the contact back before it was dialed (§6). */
  withdrawn = false;
  /** How long the released contact stays out of every cache. */
  holdMs: number | undefined;
  private current: Phase = 'waiting';
  outcome: AttemptResult | undefined;
  /** Where the attempt is; the Temporal UI's workflow page shows it as the current details. */
  get phase(): Phase {
    return this.current;
  }
  set phase(p: Phase) {
    this.current = p;
    setCurrentDetails(this.details());
  }
  callSid: string | null = null;
  heldBack: ContactStatusView['heldBack'];
  /** Preview mode: the agent's answer to the offer. */
  decision: PreviewDecision | undefined;
  /** The campaign's last reschedule taken before dialing (§8: it is not written again after). */
  honoured: string | undefined;

  constructor(readonly input: CallContactInput) {
    this.dueAt = input.dueAt;
    this.hasLine = input.lineGranted;
  }

  get ids(): { contactId: number; attemptNo: number } {
    return { contactId: this.input.contact.id, attemptNo: this.input.attemptNo };
  }

  /** The attempt's key for the activities. */
  get key(): { campaign: string; contactId: number; attemptNo: number } {
    return { campaign: this.input.campaign, ...this.ids };
  }

  /** Preview mode (settings from before modes have none): an agent decides before the call. */
  get preview(): boolean {
    return this.input.settings.dialingMode === 'preview';
  }

  get undialed(): boolean {
    return this.phase === 'waiting' || this.phase === 'waiting-for-line' || this.phase === 'preview';
  }

  // The messages.

  decide(d: PreviewDecision): void {
    if (this.phase === 'preview' && this.decision === undefined) this.decision = d;
  }

  callStatus(e: CallStatusEvent): void {
    this.tracker.add(e);
  }

  callFacts(callSid: string, facts: CallFacts): void {
    this.tracker.addFacts(callSid, facts);
  }

  /** §8: a CRM redial moves the timer, earlier or later, until the attempt dials. */
  reschedule(at: string): void {
    if (!this.undialed) return;
    this.dueAt = at;
    this.honoured = at;
  }

  lineGranted(attemptNo: number): void {
    if (attemptNo === this.input.attemptNo) this.hasLine = true;
  }

  /** While placing: honoured if the placing step holds the attempt back (it then waits undialed). */
  withdraw(): void {
    if (this.undialed || this.phase === 'placing') this.withdrawn = true;
  }

  /** The withdraw update: answered once the contact is back on its row, or if it is dialing. */
  async withdrawNow(holdMs: number): Promise<{ outcome: 'released' | 'dialing' }> {
    if (!this.undialed) return { outcome: 'dialing' };
    this.withdrawn = true;
    this.holdMs = holdMs;
    await condition(() => this.phase === 'withdrawn');
    return { outcome: 'released' };
  }

  /** The attempt's result, with its names (the status query and the UI show them). */
  ended(result: AttemptResult): AttemptResult {
    const named = {
      ...result,
      lastStateName: lastStateName(result.lastState) ?? String(result.lastState),
      contactSuccessfulName:
        contactSuccessfulName(result.contactSuccessful) ?? String(result.contactSuccessful),
    };
    this.outcome = named;
    setCurrentDetails(this.details(named));
    return named;
  }

  /** One line for the Temporal UI (markdown): the phase, the attempt, when it is due or held back. */
  details(outcome?: AttemptResult): string {
    const parts = [`**${this.current}**`, `attempt ${this.input.attemptNo}`];
    if (this.dueAt && this.undialed) parts.push(`due ${this.dueAt}`);
    if (this.heldBack && this.undialed)
      parts.push(`held back (${this.heldBack.rule}) until ${this.heldBack.until}`);
    if (outcome)
      parts.push(`LastState ${outcome.lastStateName}`, `ContactSuccessful ${outcome.contactSuccessfulName}`);
    return parts.join(' · ');
  }

  view(): ContactStatusView {
    return {
      ...this.ids,
      phase: this.phase,
      dueAt: this.dueAt,
      callSid: this.callSid,
      callStatus: this.tracker.latestStatus,
      callbacks: this.tracker.count,
      ...(this.heldBack ? { heldBack: this.heldBack } : {}),
      ...(this.outcome
        ? {
            outcome: {
              lastState: this.outcome.lastStateName!,
              contactSuccessful: this.outcome.contactSuccessfulName!,
              redialTime: this.outcome.redialTime,
            },
          }
        : {}),
    };
  }

  // What the steps change.

  /** The agent skipped it: back undialed, and out of every cache for a while. */
  skipped(): void {
    this.withdrawn = true;
    this.holdMs = this.decision?.holdMs;
  }

  /** The calling window or a cap held it back: it waits on its timer until then, undialed. */
  heldBackUntil(until: string, rule: string, reason: string): void {
    this.heldBack = { rule, reason, until };
    this.dueAt = until;
    this.phase = 'waiting';
  }

  /** §6: back to the value it had before it was cached; nothing else on the row changes. */
  withdrawnResult(): AttemptResult {
    return this.withHonoured({
      ...this.ids,
      lastState: LastState.ErrorOccurred,
      contactSuccessful: this.input.contact.cachedFrom as ContactSuccessful,
      placed: false,
      redialTime: null,
      withdrawn: true,
    });
  }

  withHonoured(result: AttemptResult): AttemptResult {
    return this.honoured ? { ...result, honouredReschedule: this.honoured } : result;
  }
}
