import { randomUUID } from 'node:crypto';
import type pino from 'pino';
import { maskPhone } from '../infra/logger';
import {
  resolveAgentBehaviour,
  resolveOutcome,
  type AgentBehaviour,
  type OutcomeName,
  type ResolvedOutcome,
  type Scenario,
} from './scenario';
import type { Scheduler } from './scheduler';
import { API_VERSION, newSid, rfc2822, TwilioApiError } from './twilio-format';
import { parseTwiml, TwimlParseError, type DialTarget, type HttpMethod, type Verb } from './twiml';
import {
  FINAL_STATUSES,
  type AgentLeg,
  type CallbackDelivery,
  type CallbackFaults,
  type CallStatus,
  type DialCallStatus,
  type RejectedCreate,
  type SimCall,
  type StatusCallbackEvent,
} from './types';
import { describeFailure, sendSignedRequest } from './webhooks';

/** A validated create request (the REST layer turns Twilio's form parameters into this). */
export interface CreateCallParams {
  to: string;
  from: string;
  url?: string;
  method: HttpMethod;
  twiml?: string;
  statusCallback?: string;
  statusCallbackMethod: HttpMethod;
  statusCallbackEvents: StatusCallbackEvent[];
  timeout: number;
  machineDetection?: 'Enable' | 'DetectMessageEnd';
}

export interface EngineDeps {
  accountSid: string;
  authToken: string;
  timeScale: number;
  faults: CallbackFaults;
  callsPerSecond?: number;
  maxConcurrentCalls?: number;
  scenario: Scenario;
  scheduler: Scheduler;
  logger: pino.Logger;
}

// Outcomes that fail while the call is being set up: no ringing, a SIP error after ringSeconds.
// The codes are the ones telephony.md §2 maps (rows 4, 8, 9, 10, 12).
const SETUP_FAILURES: Partial<Record<OutcomeName, { sip?: number }>> = {
  unreachable: { sip: 480 },
  'wrong-number': { sip: 404 },
  incompatible: { sip: 488 },
  'no-line': { sip: 503 },
  error: {},
};

// An agent's phone or client picks up (or reports busy) this long after the <Dial> starts,
// in simulated seconds: long enough to see the leg ring, short enough for a quick dry run.
const AGENT_ANSWER_SECONDS = 1;
const AGENT_BUSY_SECONDS = 0.5;

// A <Redirect> to itself with no <Pause> would otherwise request the dialer's server as fast
// as it answers, forever.
const MAX_DOCUMENTS_PER_CALL = 200;

type TwimlDocument = { verbs: Verb[]; url?: string };

interface ActiveDial {
  leg: AgentLeg;
  bridgedAtSimMs?: number;
  timers: Set<NodeJS.Timeout>;
  finish(status: DialCallStatus): void;
}

interface DialResult {
  status: DialCallStatus;
  legSid: string;
  durationSeconds: number;
  bridged: boolean;
}

interface StatusDelivery {
  event: StatusCallbackEvent;
  url: string;
  method: HttpMethod;
  params: Record<string, string>;
  token: string;
}

interface CallState {
  /** Plain data: what the control API and the REST resource are built from. */
  rec: SimCall;
  outcome: ResolvedOutcome;
  /**
   * Simulated clock of this call, in ms. Timers advance it to their planned time, so durations
   * come out exactly as the scenario says however late a timer fires; time spent waiting for
   * the dialer's webhooks does not count (scaled down by timeScale it would be magnified).
   */
  simMs: number;
  simSyncReal: number;
  answeredSimMs?: number;
  sequence: number;
  /** TwiML documents requested so far (answer, actions, redirects). */
  documents: number;
  timers: Set<NodeJS.Timeout>;
  wakers: Set<() => void>;
  dial?: ActiveDial;
  /** Status callbacks held back by the outOfOrder fault until the call ends. */
  held: StatusDelivery[];
  /** Status callbacks of one call go out one after another, in order, unless a fault says not. */
  chain: Promise<void>;
  /** Set by reset/close: the call is forgotten and must not act any more. */
  discarded: boolean;
}

export type HangupResult = { ok: true; call: SimCall } | { ok: false; httpStatus: 404 | 409; error: string };

export class CallEngine {
  private calls: CallState[] = [];
  private bySid = new Map<string, CallState>();
  private attempts = new Map<string, number>();
  private rejected: RejectedCreate[] = [];
  private failedFirstUrls = new Set<string>();
  private nextSlotReal = 0;
  /** Flows and deliveries still running; replaced on reset so late finishers count nowhere. */
  private work = { pending: 0 };
  private current: Scenario;
  private readonly log: pino.Logger;

  constructor(private readonly deps: EngineDeps) {
    this.current = deps.scenario;
    this.log = deps.logger;
  }

  // ── state for the control API ──────────────────────────────────────────────────────────

  get scenario(): Scenario {
    return this.current;
  }

  set scenario(s: Scenario) {
    this.current = s;
  }

  list(filter: { to?: string } = {}): SimCall[] {
    return this.calls
      .filter((c) => filter.to === undefined || c.rec.to === filter.to)
      .map((c) => snapshot(c));
  }

  /** The records themselves, oldest first, for read-only use: REST lists can be long. */
  records(): readonly Readonly<SimCall>[] {
    return this.calls.map((c) => c.rec);
  }

  get(sid: string): SimCall | undefined {
    const c = this.bySid.get(sid);
    return c && snapshot(c);
  }

  rejections(): RejectedCreate[] {
    return structuredClone(this.rejected);
  }

  /** Forgets every call, attempt counter and fault memory; the caller restores the scenario. */
  reset(scenario: Scenario): void {
    for (const c of this.calls) this.discard(c);
    this.calls = [];
    this.bySid.clear();
    this.attempts.clear();
    this.rejected = [];
    this.failedFirstUrls.clear();
    this.nextSlotReal = 0;
    this.work = { pending: 0 };
    this.current = scenario;
  }

  close(): void {
    for (const c of this.calls) this.discard(c);
  }

  /** True when no call is live and no webhook request is pending. */
  get idle(): boolean {
    return this.work.pending === 0 && this.calls.every((c) => !isLive(c));
  }

  // ── REST: create, update ───────────────────────────────────────────────────────────────

  create(p: CreateCallParams): SimCall {
    const max = this.deps.maxConcurrentCalls;
    if (max !== undefined && this.calls.filter(isLive).length >= max) {
      // Checked before the attempt is counted: the number was never dialled.
      this.reject(
        p,
        400,
        10004,
        `Call concurrency limit exceeded: this account may have ${max} calls at a time`,
      );
    }
    const attempt = this.attempts.get(p.to) ?? 0;
    this.attempts.set(p.to, attempt + 1);
    const outcome = resolveOutcome(this.current, p.to, attempt);
    if (outcome.outcome === 'invalid') this.reject(p, 400, 21211, `Invalid 'To' Phone Number: ${p.to}`);
    if (outcome.outcome === 'blocked') this.reject(p, 400, 21216, `Account not allowed to call ${p.to}`);

    const call = newCallState(p, this.deps.accountSid, outcome, attempt);
    this.calls.push(call);
    this.bySid.set(call.rec.sid, call);
    this.event(call, 'created', { outcome: outcome.outcome, attempt, ...pick(outcome) });
    this.log.info(
      { callSid: call.rec.sid, to: maskPhone(p.to), outcome: outcome.outcome, attempt },
      'call created',
    );

    const waitMs = this.nextDispatchDelay();
    if (waitMs > 0) this.event(call, 'waiting-for-rate-limit', { waitMs: Math.round(waitMs) });
    this.realTimer(call, waitMs, () => this.initiate(call));
    return snapshot(call);
  }

  /** POST …/Calls/{sid}.json with Status: Twilio's hang up (completed) and cancel (canceled). */
  update(sid: string, status: 'completed' | 'canceled'): SimCall {
    const call = this.bySid.get(sid);
    if (!call) throw notFound(sid, this.deps.accountSid);
    if (isLive(call)) {
      const answered = call.rec.status === 'in-progress';
      // canceled only affects calls not yet answered; completed ends a call in any live state.
      // A call still waiting in the queue never sent an INVITE, so it has no SIP code.
      const sip = call.rec.status === 'queued' ? undefined : 487;
      if (!answered) this.endCall(call, { status: 'canceled', sip, by: 'api', external: true });
      else if (status === 'completed')
        this.endCall(call, { status: 'completed', sip: 200, by: 'api', external: true });
    }
    return snapshot(call);
  }

  // ── control API: hang up one side now ─────────────────────────────────────────────────

  hangup(sid: string, side: 'callee' | 'agent'): HangupResult {
    const call = this.bySid.get(sid);
    if (!call) return { ok: false, httpStatus: 404, error: `no call ${sid}` };
    if (!isLive(call))
      return { ok: false, httpStatus: 409, error: `call ${sid} has already ended (${call.rec.status})` };
    if (side === 'agent') {
      if (!this.agentHangsUp(call, 'control')) {
        return { ok: false, httpStatus: 409, error: `no agent leg is connected to call ${sid}` };
      }
    } else if (call.rec.status === 'in-progress') {
      this.calleeHangsUp(call, 'control');
    } else if (call.rec.status === 'ringing') {
      // Pressing "decline" on a ringing phone: SIP 603, which Twilio reports as busy.
      this.event(call, 'callee-declined', { by: 'control' });
      this.endCall(call, { status: 'busy', sip: 603, by: 'callee', external: true });
    } else {
      return {
        ok: false,
        httpStatus: 409,
        error: `call ${sid} is ${call.rec.status}: the callee's phone is not ringing yet`,
      };
    }
    return { ok: true, call: snapshot(call) };
  }

  // ── the call's life ───────────────────────────────────────────────────────────────────

  /** Refuses a create: recorded in rejections(), thrown as Twilio's error answer. */
  reject(p: CreateCallParams, httpStatus: number, code: number, message: string): never {
    this.rejected.push({ at: new Date().toISOString(), to: p.to, from: p.from, code, httpStatus, message });
    this.log.info({ to: maskPhone(p.to), code }, 'call create rejected');
    throw new TwilioApiError(httpStatus, code, message);
  }

  /** Calls-per-second: each call gets the next free slot; the wait is spent in 'queued'. */
  private nextDispatchDelay(): number {
    const cps = this.deps.callsPerSecond;
    if (!cps) return 0;
    const now = Date.now();
    const slot = Math.max(now, this.nextSlotReal);
    this.nextSlotReal = slot + 1000 / cps;
    return slot - now;
  }

  private initiate(call: CallState): void {
    const { rec, outcome } = call;
    rec.startedAt = new Date().toISOString();
    this.setStatus(call, 'initiated');
    this.emitStatus(call, 'initiated');

    const failure = SETUP_FAILURES[outcome.outcome];
    if (failure) {
      this.callTimer(call, outcome.ringSeconds, () =>
        this.endCall(call, { status: 'failed', sip: failure.sip, by: 'network' }),
      );
      return;
    }
    this.setStatus(call, 'ringing');
    this.emitStatus(call, 'ringing');
    const timeout = rec.request.timeout;
    if (outcome.outcome === 'no-answer' || outcome.ringSeconds >= timeout) {
      // Twilio cancels the INVITE when Timeout runs out: SIP 487, status no-answer.
      this.callTimer(call, timeout, () =>
        this.endCall(call, { status: 'no-answer', sip: 487, by: 'timeout' }),
      );
    } else if (outcome.outcome === 'busy') {
      this.callTimer(call, outcome.ringSeconds, () =>
        this.endCall(call, { status: 'busy', sip: 486, by: 'callee' }),
      );
    } else if (outcome.outcome === 'reject') {
      // 603 Decline: Twilio reports a declined call as busy; the SIP code tells them apart
      // (telephony.md §2 row 6 checks 603 before the status).
      this.callTimer(call, outcome.ringSeconds, () =>
        this.endCall(call, { status: 'busy', sip: 603, by: 'callee' }),
      );
    } else {
      this.callTimer(call, outcome.ringSeconds, () => this.answer(call));
    }
  }

  private answer(call: CallState): void {
    const { rec, outcome } = call;
    rec.answeredAt = new Date().toISOString();
    call.answeredSimMs = call.simMs;
    const detection = rec.request.machineDetection;
    // Detection is synchronous here: the result is known when the Url is requested.
    if (detection) rec.answeredBy = answeredBy(outcome.outcome, detection);
    this.setStatus(call, 'in-progress', { answeredBy: rec.answeredBy });
    this.emitStatus(call, 'answered');
    if (outcome.outcome === 'human-hangs-up') {
      // This person leaves after talkSeconds whatever the TwiML does; no agent ever answers
      // for them (see dial()), so they hang up before anyone is connected.
      this.callTimer(call, outcome.talkSeconds, () => this.calleeHangsUp(call, 'scenario'));
    }
    const work = this.work;
    work.pending++;
    this.runFlow(call)
      .catch((err: unknown) => {
        this.log.error({ err, callSid: rec.sid }, 'call flow failed');
        this.event(call, 'error', { message: describeFailure(err) });
        this.endCall(call, { status: 'completed', sip: 200, by: 'error' });
      })
      .finally(() => work.pending--);
  }

  private async runFlow(call: CallState): Promise<void> {
    const req = call.rec.request;
    let next: TwimlDocument | null | undefined;
    if (req.twiml !== undefined) next = this.parseDocument(call, req.twiml, undefined, 'the Twiml parameter');
    else next = await this.fetchTwiml(call, 'answer', req.url ?? '', req.method, this.callParams(call));
    while (next && isLive(call)) next = await this.execute(call, next);
    // The TwiML ran out (undefined) or could not be had (null): either way the call is over.
    if (isLive(call))
      this.endCall(call, { status: 'completed', sip: 200, by: next === null ? 'error' : 'twiml' });
  }

  /**
   * Runs verbs until the document ends (undefined), the call ends, or a verb hands over to a
   * new document (<Dial action>, <Redirect>): that document is returned; null if it failed.
   */
  private async execute(call: CallState, doc: TwimlDocument): Promise<TwimlDocument | null | undefined> {
    for (const verb of doc.verbs) {
      if (!isLive(call)) return undefined;
      this.event(call, 'verb', describeVerb(verb));
      switch (verb.verb) {
        case 'Say':
          call.rec.messageStartedAt ??= new Date().toISOString();
          if (!(await this.pause(call, verb.seconds))) return undefined;
          break;
        case 'Pause':
          if (!(await this.pause(call, verb.seconds))) return undefined;
          break;
        case 'Hangup':
          this.endCall(call, { status: 'completed', sip: 200, by: 'twiml' });
          return undefined;
        case 'Redirect': {
          const url = this.resolveUrl(call, verb.url, doc.url, '<Redirect>');
          if (!url) return null;
          return await this.fetchTwiml(call, 'redirect', url, verb.method, this.callParams(call));
        }
        case 'Dial': {
          const result = await this.dial(call, verb.targets, verb.timeoutSeconds);
          if (call.discarded) return undefined;
          if (verb.action === undefined) break; // without action, Twilio goes on with the next verb
          const url = this.resolveUrl(call, verb.action, doc.url, '<Dial action>');
          if (!url) return null;
          const params: Record<string, string> = {
            ...this.callParams(call),
            DialCallStatus: result.status,
            DialCallSid: result.legSid,
            DialCallDuration: String(result.durationSeconds),
            DialBridged: String(result.bridged),
          };
          // Twilio requests the action even when the caller has hung up (CallStatus=completed);
          // that is how the dialer tells "callee ended" from "agent ended" (§2 rows 19, 20).
          const next = await this.fetchTwiml(call, 'dial-action', url, verb.method, params);
          return isLive(call) ? next : undefined;
        }
        case 'Unsupported':
          this.log.warn(
            { callSid: call.rec.sid, verb: verb.name },
            'TwiML verb not supported by the simulator; skipped',
          );
          break;
      }
    }
    return undefined;
  }

  /** Which agent picks up, by the scenario's agent behaviours and the callee's outcome. */
  private ringAgents(call: CallState, targets: DialTarget[]) {
    const outcome = call.outcome.outcome;
    const rings = targets.map((t) => ({ target: t, behaviour: resolveAgentBehaviour(this.current, t.key) }));
    let winner = rings.find((r) => r.behaviour === 'answer' || r.behaviour === 'hangs-up-first');
    // The callee's outcome overrides the agents: it says what happens on this call.
    if (outcome === 'human-hangs-up') winner = undefined;
    if (outcome === 'agent-hangs-up') {
      const first = winner ?? rings[0];
      winner = first && { target: first.target, behaviour: 'hangs-up-first' as const };
    }
    const allBusy = rings.every((r) => r.behaviour === 'busy');
    return { rings, winner, allBusy };
  }

  private dial(call: CallState, targets: DialTarget[], timeoutSeconds: number): Promise<DialResult> {
    const { rings, winner, allBusy } = this.ringAgents(call, targets);
    const shown = winner ?? rings[0];
    const leg: AgentLeg = {
      sid: newSid('CA'),
      endpoint: shown?.target.key ?? '',
      behaviour: shown?.behaviour ?? 'no-answer',
      startedAt: new Date().toISOString(),
    };
    call.rec.legs.push(leg);
    this.event(call, 'dial-started', { legSid: leg.sid, targets: targets.map((t) => t.key), timeoutSeconds });

    return new Promise<DialResult>((resolve) => {
      const dial: ActiveDial = {
        leg,
        timers: new Set(),
        finish: (status) => {
          if (call.dial !== dial) return;
          resolve(this.endDial(call, dial, status));
        },
      };
      call.dial = dial;
      if (!isLive(call)) return dial.finish('canceled');

      if (winner && AGENT_ANSWER_SECONDS < timeoutSeconds) {
        const behaviour = winner.behaviour;
        this.callTimer(call, AGENT_ANSWER_SECONDS, () => this.bridge(call, dial, behaviour), dial.timers);
      } else if (!winner && allBusy) {
        this.callTimer(call, AGENT_BUSY_SECONDS, () => dial.finish('busy'), dial.timers);
      } else {
        this.callTimer(call, timeoutSeconds, () => dial.finish('no-answer'), dial.timers);
      }
    });
  }

  /** The dial is over: stop its timers, close the agent leg, and say how it ended. */
  private endDial(call: CallState, dial: ActiveDial, status: DialCallStatus): DialResult {
    const leg = dial.leg;
    call.dial = undefined;
    for (const t of dial.timers) {
      this.deps.scheduler.cancel(t);
      call.timers.delete(t);
    }
    const bridged = dial.bridgedAtSimMs !== undefined;
    const durationSeconds = bridged ? Math.round((call.simMs - (dial.bridgedAtSimMs ?? 0)) / 1000) : 0;
    leg.dialCallStatus = status;
    leg.endedAt = new Date().toISOString();
    leg.durationSeconds = durationSeconds;
    this.event(call, 'dial-ended', {
      legSid: leg.sid,
      dialCallStatus: status,
      dialCallDuration: durationSeconds,
    });
    return { status, legSid: leg.sid, durationSeconds, bridged };
  }

  private bridge(call: CallState, dial: ActiveDial, behaviour: AgentBehaviour): void {
    const leg = dial.leg;
    dial.bridgedAtSimMs = call.simMs;
    leg.answeredAt = new Date().toISOString();
    this.event(call, 'agent-answered', { legSid: leg.sid, endpoint: leg.endpoint });
    // Bridged: the callee talks for talkSeconds, then hangs up (§2 row 20) …
    this.callTimer(call, call.outcome.talkSeconds, () => this.calleeHangsUp(call, 'scenario'), dial.timers);
    // … unless the agent leaves first, half-way through (§2 row 19).
    if (behaviour === 'hangs-up-first') {
      this.callTimer(
        call,
        call.outcome.talkSeconds / 2,
        () => this.agentHangsUp(call, 'scenario'),
        dial.timers,
      );
    }
  }

  private calleeHangsUp(call: CallState, by: 'scenario' | 'control'): void {
    this.event(call, 'callee-hangup', { by });
    this.endCall(call, { status: 'completed', sip: 200, by: 'callee', external: by === 'control' });
  }

  private agentHangsUp(call: CallState, by: 'scenario' | 'control'): boolean {
    const dial = call.dial;
    if (!dial || dial.bridgedAtSimMs === undefined) return false;
    if (by === 'control') this.syncClock(call);
    this.event(call, 'agent-hangup', { legSid: dial.leg.sid, by });
    dial.finish('completed');
    return true;
  }

  private endCall(
    call: CallState,
    end: { status: CallStatus; sip?: number; by: string; external?: boolean },
  ): void {
    if (!isLive(call)) return;
    if (end.external) this.syncClock(call);
    for (const t of call.timers) this.deps.scheduler.cancel(t);
    call.timers.clear();
    const { rec } = call;
    rec.endedAt = new Date().toISOString();
    rec.endedBy = end.by;
    rec.sipResponseCode = end.sip;
    rec.durationSeconds =
      call.answeredSimMs === undefined ? 0 : Math.round((call.simMs - call.answeredSimMs) / 1000);
    this.setStatus(call, end.status, {
      sipResponseCode: end.sip,
      by: end.by,
      durationSeconds: rec.durationSeconds,
    });
    this.log.info(
      { callSid: rec.sid, to: maskPhone(rec.to), status: end.status, sip: end.sip, by: end.by },
      'call ended',
    );
    // A bridged agent leg ends with the call; a ringing one is canceled.
    const dial = call.dial;
    if (dial) dial.finish(dial.bridgedAtSimMs === undefined ? 'canceled' : 'completed');
    for (const wake of [...call.wakers]) wake();
    this.emitStatus(call, 'completed');
    if (call.held.length > 0) {
      // outOfOrder fault: everything the call held back goes out now, newest first.
      const held = call.held.reverse();
      call.held = [];
      for (const d of held) this.deliverStatus(call, d);
    }
  }

  private discard(call: CallState): void {
    call.discarded = true;
    for (const t of call.timers) this.deps.scheduler.cancel(t);
    call.timers.clear();
    for (const wake of [...call.wakers]) wake();
  }

  // ── TwiML documents ───────────────────────────────────────────────────────────────────

  private resolveUrl(
    call: CallState,
    ref: string,
    base: string | undefined,
    what: string,
  ): string | undefined {
    try {
      return new URL(ref, base).toString();
    } catch {
      this.webhookError(
        call,
        11200,
        `${what} URL "${ref}" cannot be resolved${base ? '' : ' (no document URL)'}`,
      );
      return undefined;
    }
  }

  private parseDocument(
    call: CallState,
    xml: string,
    url: string | undefined,
    source: string,
  ): TwimlDocument | null {
    try {
      return { verbs: parseTwiml(xml), url };
    } catch (err) {
      const message = err instanceof TwimlParseError ? err.message : describeFailure(err);
      this.webhookError(call, 12100, `invalid TwiML from ${source}: ${message}`);
      return null;
    }
  }

  /** Requests TwiML (the answer Url, a <Dial action>, a <Redirect>); null if that failed. */
  private async fetchTwiml(
    call: CallState,
    kind: CallbackDelivery['kind'],
    url: string,
    method: HttpMethod,
    params: Record<string, string>,
  ): Promise<TwimlDocument | null> {
    if (call.discarded || this.deps.scheduler.closed) return null;
    if (++call.documents > MAX_DOCUMENTS_PER_CALL) {
      this.webhookError(
        call,
        11200,
        `more than ${MAX_DOCUMENTS_PER_CALL} TwiML requests: a <Redirect> loop?`,
      );
      return null;
    }
    const record: CallbackDelivery = { kind, url, method, params, copy: 1, at: new Date().toISOString() };
    call.rec.callbacks.push(record);
    let body: string;
    try {
      const res = await sendSignedRequest({
        url,
        method,
        params,
        authToken: this.deps.authToken,
        idempotencyToken: randomUUID(),
        signal: this.deps.scheduler.signal,
      });
      record.httpStatus = res.status;
      body = res.body;
      if (res.status < 200 || res.status >= 300) {
        record.error = `HTTP ${res.status}`;
        this.webhookError(call, 11200, `${kind} request to ${url} answered HTTP ${res.status}`);
        return null;
      }
    } catch (err) {
      record.error = describeFailure(err);
      if (!this.deps.scheduler.closed)
        this.webhookError(call, 11200, `${kind} request to ${url} failed: ${record.error}`);
      return null;
    }
    if (!isLive(call)) return null; // the answer no longer matters
    return this.parseDocument(call, body, url, url);
  }

  /** Twilio's 11200 (HTTP retrieval failure) and 12100 (document parse failure). */
  private webhookError(call: CallState, code: number, message: string): void {
    this.event(call, 'webhook-error', { code, message });
    this.log.warn({ callSid: call.rec.sid, code }, message);
  }

  // ── status callbacks ──────────────────────────────────────────────────────────────────

  private callParams(call: CallState): Record<string, string> {
    const { rec } = call;
    const params: Record<string, string> = {
      AccountSid: rec.accountSid,
      ApiVersion: API_VERSION,
      CallSid: rec.sid,
      CallStatus: rec.status,
      Called: rec.to,
      Caller: rec.from,
      Direction: 'outbound-api',
      From: rec.from,
      To: rec.to,
    };
    if (rec.answeredBy) params.AnsweredBy = rec.answeredBy;
    return params;
  }

  private emitStatus(call: CallState, event: StatusCallbackEvent): void {
    const { rec } = call;
    const url = rec.request.statusCallback;
    if (!url || !rec.request.statusCallbackEvents.includes(event)) return;
    const params: Record<string, string> = {
      ...this.callParams(call),
      CallbackSource: 'call-progress-events',
      SequenceNumber: String(call.sequence++),
      Timestamp: rfc2822(new Date()),
    };
    if (event === 'completed') {
      if (rec.sipResponseCode !== undefined) params.SipResponseCode = String(rec.sipResponseCode);
      const seconds = rec.durationSeconds ?? 0;
      params.CallDuration = String(seconds);
      // Duration is Twilio's billed minutes, rounded up.
      params.Duration = String(Math.ceil(seconds / 60));
    }
    const delivery: StatusDelivery = {
      event,
      url,
      method: rec.request.statusCallbackMethod,
      params,
      token: randomUUID(),
    };
    if (this.deps.faults.outOfOrder) call.held.push(delivery);
    else this.deliverStatus(call, delivery);
  }

  private deliverStatus(call: CallState, d: StatusDelivery): void {
    const { faults, scheduler } = this.deps;
    const copies = faults.duplicate ? 2 : 1;
    const work = this.work;
    work.pending++;
    const send = () => {
      for (let copy = 1; copy <= copies; copy++) {
        call.chain = call.chain
          .then(() => this.sendStatus(call, d, copy))
          .catch((err: unknown) => this.log.error({ err, callSid: call.rec.sid }, 'status callback crashed'));
      }
      call.chain = call.chain.finally(() => work.pending--);
    };
    if (faults.delayMs && faults.delayMs > 0) {
      if (!scheduler.after(faults.delayMs, send)) work.pending--;
    } else send();
  }

  private async sendStatus(call: CallState, d: StatusDelivery, copy: number): Promise<void> {
    const { faults, scheduler } = this.deps;
    if (call.discarded || scheduler.closed) return;
    const record: CallbackDelivery = {
      kind: 'status',
      event: d.event,
      url: d.url,
      method: d.method,
      params: d.params,
      copy,
      at: new Date().toISOString(),
    };
    call.rec.callbacks.push(record);
    if (faults.dropEvents?.includes(d.event)) {
      record.dropped = true;
      record.error = 'dropped by the dropEvents fault';
      this.log.info({ callSid: call.rec.sid, event: d.event }, 'status callback dropped (dropEvents fault)');
      return;
    }
    if (faults.failFirst && !this.failedFirstUrls.has(d.url)) {
      this.failedFirstUrls.add(d.url);
      record.dropped = true;
      record.error = 'dropped by the failFirst fault (first delivery to this URL)';
      this.log.info({ callSid: call.rec.sid, event: d.event }, 'status callback dropped (failFirst fault)');
      return;
    }
    try {
      const res = await sendSignedRequest({
        url: d.url,
        method: d.method,
        params: d.params,
        authToken: this.deps.authToken,
        idempotencyToken: d.token,
        signal: scheduler.signal,
      });
      record.httpStatus = res.status;
      if (res.status < 200 || res.status >= 300) {
        record.error = `HTTP ${res.status}`;
        this.log.warn(
          { callSid: call.rec.sid, event: d.event, httpStatus: res.status },
          'status callback rejected',
        );
      }
    } catch (err) {
      record.error = describeFailure(err);
      // Twilio does not retry a failed callback; neither do we.
      if (!scheduler.closed) {
        this.log.warn(
          { callSid: call.rec.sid, event: d.event, error: record.error },
          'status callback failed',
        );
      }
    }
  }

  // ── time and bookkeeping ──────────────────────────────────────────────────────────────

  private setStatus(call: CallState, status: CallStatus, detail?: Record<string, unknown>): void {
    call.rec.status = status;
    call.rec.updatedAt = new Date().toISOString();
    this.event(call, status, detail);
  }

  private event(call: CallState, type: string, detail?: Record<string, unknown>): void {
    const clean = detail && Object.fromEntries(Object.entries(detail).filter(([, v]) => v !== undefined));
    call.rec.events.push({
      at: new Date().toISOString(),
      simSeconds: Math.round(call.simMs) / 1000,
      type,
      ...(clean && Object.keys(clean).length > 0 ? { detail: clean } : {}),
    });
  }

  /** For events from outside (REST, control API): real time passed counts, scaled. */
  private syncClock(call: CallState): void {
    const now = Date.now();
    call.simMs += (now - call.simSyncReal) / this.deps.timeScale;
    call.simSyncReal = now;
  }

  /** A timer in simulated seconds that dies with the call (and optionally with a <Dial>). */
  private callTimer(call: CallState, simSeconds: number, fn: () => void, group?: Set<NodeJS.Timeout>): void {
    const planned = call.simMs + simSeconds * 1000;
    const timer = this.deps.scheduler.after(simSeconds * 1000 * this.deps.timeScale, () => {
      call.timers.delete(timer as NodeJS.Timeout);
      group?.delete(timer as NodeJS.Timeout);
      if (!isLive(call)) return;
      call.simMs = Math.max(call.simMs, planned);
      call.simSyncReal = Date.now();
      fn();
    });
    if (timer) {
      call.timers.add(timer);
      group?.add(timer);
    }
  }

  /** A timer in real milliseconds (rate limiting) that dies with the call. */
  private realTimer(call: CallState, ms: number, fn: () => void): void {
    const timer = this.deps.scheduler.after(ms, () => {
      call.timers.delete(timer as NodeJS.Timeout);
      if (isLive(call)) fn();
    });
    if (timer) call.timers.add(timer);
  }

  /** Waits simulated seconds; false if the call ended meanwhile. */
  private pause(call: CallState, simSeconds: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (!isLive(call)) return resolve(false);
      const wake = () => {
        call.wakers.delete(wake);
        resolve(false);
      };
      call.wakers.add(wake);
      this.callTimer(call, simSeconds, () => {
        call.wakers.delete(wake);
        resolve(true);
      });
    });
  }
}

/** A new call as Twilio answers a create: queued, with the request it was made with. */
function newCallState(
  p: CreateCallParams,
  accountSid: string,
  outcome: ResolvedOutcome,
  attempt: number,
): CallState {
  const now = new Date().toISOString();
  return {
    rec: {
      sid: newSid('CA'),
      accountSid,
      to: p.to,
      from: p.from,
      status: 'queued',
      outcome: outcome.outcome,
      ringSeconds: outcome.ringSeconds,
      talkSeconds: outcome.talkSeconds,
      attempt,
      createdAt: now,
      updatedAt: now,
      endedAt: null,
      request: {
        url: p.url,
        method: p.method,
        twiml: p.twiml,
        statusCallback: p.statusCallback,
        statusCallbackMethod: p.statusCallbackMethod,
        statusCallbackEvents: p.statusCallbackEvents,
        timeout: p.timeout,
        machineDetection: p.machineDetection,
      },
      callbacks: [],
      events: [],
      legs: [],
    },
    outcome,
    simMs: 0,
    simSyncReal: Date.now(),
    sequence: 0,
    documents: 0,
    timers: new Set(),
    wakers: new Set(),
    held: [],
    chain: Promise.resolve(),
    discarded: false,
  };
}

function isLive(call: CallState): boolean {
  return !call.discarded && !FINAL_STATUSES.has(call.rec.status);
}

function snapshot(call: CallState): SimCall {
  return structuredClone(call.rec);
}

function pick(o: ResolvedOutcome) {
  return { ringSeconds: o.ringSeconds, talkSeconds: o.talkSeconds };
}

/** Twilio's AnsweredBy for what picked up, given the MachineDetection mode. */
function answeredBy(outcome: OutcomeName, detection: 'Enable' | 'DetectMessageEnd'): string {
  if (outcome === 'machine') return detection === 'DetectMessageEnd' ? 'machine_end_beep' : 'machine_start';
  if (outcome === 'fax') return 'fax';
  return 'human';
}

function describeVerb(v: Verb): Record<string, unknown> {
  switch (v.verb) {
    case 'Say':
      return { verb: 'Say', text: v.text, seconds: v.seconds };
    case 'Pause':
      return { verb: 'Pause', seconds: v.seconds };
    case 'Dial':
      return {
        verb: 'Dial',
        targets: v.targets.map((t) => t.key),
        timeout: v.timeoutSeconds,
        action: v.action,
      };
    case 'Redirect':
      return { verb: 'Redirect', url: v.url };
    case 'Hangup':
      return { verb: 'Hangup' };
    case 'Unsupported':
      return { verb: v.name, unsupported: true };
  }
}

export function notFound(sid: string, accountSid: string): TwilioApiError {
  return new TwilioApiError(
    404,
    20404,
    `The requested resource /2010-04-01/Accounts/${accountSid}/Calls/${sid}.json was not found`,
  );
}
