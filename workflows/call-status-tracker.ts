import type { CallFacts } from '../domain/contract';
import type { CallStatusEvent } from './shared';
import { isTerminalCallStatus } from '../domain/call-status';

/**
 * Collects a call's status callbacks. Twilio may deliver them twice or out of order
 * (telephony §1.3): duplicates and callbacks for other calls are ignored, and the outcome is
 * taken from the terminal callback only, whenever it arrives.
 */
export class CallStatusTracker {
  private readonly events: CallStatusEvent[] = [];
  private readonly extra: { callSid: string; facts: CallFacts }[] = [];
  private callSid: string | undefined;

  add(e: CallStatusEvent): void {
    const dup = this.events.some(
      (x) =>
        x.callSid === e.callSid &&
        x.callStatus === e.callStatus &&
        (x.sequenceNumber === e.sequenceNumber || x.sequenceNumber === null || e.sequenceNumber === null),
    );
    if (!dup) this.events.push(e);
  }

  /** Facts from our answer and <Dial> action webhooks; merged into the final facts. */
  addFacts(callSid: string, facts: CallFacts): void {
    this.extra.push({ callSid, facts });
  }

  /**
   * The call went to an agent and its <Dial> result has not arrived yet: Twilio sends the action
   * request and the final status callback side by side, and either may reach us first.
   */
  get awaitingDialResult(): boolean {
    const f = this.webhookFacts();
    return f.agentStep === true && f.dialCallStatus === undefined;
  }

  /** The webhook facts alone (when the outcome has to come from a fetch). */
  webhookFacts(): CallFacts {
    return Object.assign({}, ...this.extra.filter((x) => x.callSid === this.callSid).map((x) => x.facts));
  }

  /** From now on only callbacks of this call count. */
  expect(callSid: string): void {
    this.callSid = callSid;
  }

  get count(): number {
    return this.mine().length;
  }

  /** The latest status by sequence number (what an operator would call "where the call is"). */
  get latestStatus(): string | null {
    const mine = this.mine();
    if (mine.length === 0) return null;
    return mine.reduce((a, b) => ((b.sequenceNumber ?? -1) >= (a.sequenceNumber ?? -1) ? b : a)).callStatus;
  }

  /** The facts of the terminal callback, once it has arrived. */
  get final(): CallFacts | undefined {
    const end = this.mine().find((e) => isTerminalCallStatus(e.callStatus));
    if (!end) return undefined;
    const answeredBy = this.mine().find((e) => e.answeredBy)?.answeredBy;
    return {
      ...this.webhookFacts(),
      callSid: end.callSid,
      callStatus: end.callStatus,
      ...(end.sipResponseCode !== undefined ? { sipResponseCode: end.sipResponseCode } : {}),
      ...(answeredBy ? { answeredBy } : {}),
      ...(end.callDurationSeconds !== undefined ? { callDurationSeconds: end.callDurationSeconds } : {}),
    };
  }

  private mine(): CallStatusEvent[] {
    return this.callSid === undefined ? [] : this.events.filter((e) => e.callSid === this.callSid);
  }
}
