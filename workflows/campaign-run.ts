import {
  type CachedContact,
  type CampaignSettings,
  type RedialRequest,
  checkRedialRequest,
  contactSuccessfulName,
  dialOrder,
  dialTier,
  lastStateName,
} from '../domain/contract';
import {
  type AttemptResult,
  type CampaignCarry,
  type CampaignOptions,
  type CampaignProgress,
  type CampaignStats,
  type CampaignStatus,
  type CampaignStatusView,
  type InFlightContact,
  type LineRequest,
  type PacingView,
  type RedialAnswer,
} from './shared';

/** Refills that find nothing new are spaced at least this far apart (no busy loop on a locked row). */
const MIN_REFILL_GAP_MS = 250;

/**
 * A campaign with agents looks at them at least this often, while contacts wait for them: an
 * agent coming free sends no signal, and the mode's calls in flight follow the agents. Slower
 * while none works (a campaign left overnight).
 */
const PACING_REFRESH_MS = 1000;
const PACING_IDLE_REFRESH_MS = 10_000;

/**
 * Children that are not due yet whose start may be on its way at once: the look-ahead's redials
 * go out a few at a time, so their burst (at campaign start) does not hold up the ones due (§5).
 */
const WAITING_STARTS_AT_ONCE = 20;

/** A CRM redial waiting for the main loop, with the update's answer if one waits for it (§8). */
export interface QueuedRedial {
  request: RedialRequest;
  answer?: (a: RedialAnswer) => void;
}

/** What a child tells when it gives its line back; held back until a time by a rule, perhaps. */
export interface LineReturn {
  contactId: number;
  attemptNo: number;
  delayedUntil?: string;
  rule?: string;
}

/** What to start: a child that may dial at once (holds a line) or one that waits for its time. */
export interface ToStart {
  contact: CachedContact;
  lineGranted: boolean;
}

/** What each control message changes: pause, resume, stop (§5a), the CRM's refill, a settings change. */
const CONTROL_MESSAGES = {
  pause: { paused: true },
  resume: { paused: false, changed: true },
  stop: { stopping: true },
  refill: { changed: true },
  settingsChanged: { changed: true, reloadSettings: true },
} as const satisfies Record<
  string,
  Partial<Pick<CampaignRun, 'paused' | 'stopping' | 'changed' | 'reloadSettings'>>
>;
export type ControlMessage = keyof typeof CONTROL_MESSAGES;

/**
 * The campaign's in-memory state: the cache of due contacts waiting for a line (§6), the children
 * in flight and which of them hold lines, the queue of children whose redial time has come, the
 * CRM's redials waiting for the loop (§8), the counters, and when to look at the database again.
 * Every message the campaign takes is one method here. Pure bookkeeping, no I/O; the workflow
 * function drives it. What must survive continue-as-new goes through carry().
 */
export class CampaignRun {
  /** Loaded by the workflow before the loop (an update may come before; it only queues). */
  settings!: CampaignSettings;
  status: CampaignStatus;
  /** This run was continued as new: its status is on the campaign's row already. */
  readonly continued: boolean;
  /** Every message bumps it; the loop sleeps until it moves. */
  wakeups = 0;
  /** CRM redials, in the order they came, for the loop to route and write (§8). */
  redials: QueuedRedial[] = [];
  /** Children in flight whose timer is to move to a CRM redial's time. */
  reschedules: RedialRequest[] = [];
  /** The campaign's row changed (settingsChanged): the loop reloads it. */
  reloadSettings = false;
  /** Children whose start is on its way (a grant signalled before the child exists is lost). */
  readonly starting = new Map<number, ToStart>();
  /** Starts and grants on their way; the first unexpected error of one fails the workflow task. */
  movesPending = 0;
  moveError: unknown;
  cache: CachedContact[];
  inFlight: Map<number, InFlightContact>;
  lineRequests: LineRequest[];
  stats: CampaignStats;
  paused: boolean;
  stopping: boolean;
  reservationSeq: number;
  runsSoFar: number;
  /** Contacts whose child failed before recording an outcome: back to the database with them. */
  toRelease: number[];
  /** Something changed since the last refill (an attempt ended, the CRM asked, a resume). */
  changed = true;
  lastRefillAt = -Infinity;
  nextRedialAt: string | null = null;
  /** Contacts whose previous child was still closing when we tried to start the next one. */
  retryStartAt: number | null = null;
  /** Progressive pacing: calls in flight allowed by the campaign's agents (null: no agents). */
  agentCapacity: number | null;
  /** The campaign's contacts at the last count, for the status view (not carried). */
  progress?: CampaignProgress & { countedAt: string };
  /** The dialing mode's last answer, for the status view (not carried: the next refill has it). */
  pacing?: PacingView;
  /** CRM redials for contacts being dialed: written once their call has ended (§8). */
  redialsAfterCall: Map<number, string>;

  constructor(
    readonly opts: CampaignOptions,
    carry?: CampaignCarry,
  ) {
    if (carry) this.settings = carry.settings;
    this.continued = carry !== undefined;
    this.cache = carry?.cache ?? [];
    this.inFlight = new Map((carry?.inFlight ?? []).map((f) => [f.contactId, f]));
    this.lineRequests = carry?.lineRequests ?? [];
    this.stats = carry?.stats ?? { attemptsFinished: 0, byLastState: {}, byContactSuccessful: {} };
    this.paused = carry?.paused ?? false;
    this.stopping = carry?.stopping ?? false;
    this.reservationSeq = carry?.reservationSeq ?? 0;
    this.runsSoFar = carry?.runsSoFar ?? 0;
    this.toRelease = carry?.toRelease ?? [];
    this.agentCapacity = carry?.agentCapacity ?? null;
    this.redialsAfterCall = new Map((carry?.redialsAfterCall ?? []).map((r) => [r.contactId, r.at]));
    this.status = this.paused ? 'paused' : 'running';
  }

  // The messages (§5a: pause, resume, stop; §8: the CRM's refill and redials; the children's).

  private poke(): void {
    this.wakeups++;
  }

  /** An operator's or the CRM's message (§5a, §8): note what it asks for and wake the loop. */
  ask(message: ControlMessage): void {
    Object.assign(this, CONTROL_MESSAGES[message]);
    this.poke();
  }

  /** A child reported; a CRM redial that waited for its call to end is queued now. */
  attemptFinished(r: AttemptResult): void {
    const redial = this.finished(r);
    if (redial) this.redials.push({ request: redial });
    this.poke();
  }

  lineRequested(r: LineRequest): void {
    this.requestLine(r);
    this.poke();
  }

  lineReturned(r: LineReturn): void {
    const heldBack = r.delayedUntil && r.rule ? { until: r.delayedUntil, rule: r.rule } : undefined;
    this.returnLine(r.contactId, r.attemptNo, heldBack);
    this.poke();
  }

  /** The redial signal: queued, or the reason it is malformed (the signal has nobody to answer). */
  redialSignalled(r: unknown): string | undefined {
    const request = checkRedialRequest(r);
    if (typeof request !== 'string') this.redials.push({ request });
    this.poke();
    return typeof request === 'string' ? request : undefined;
  }

  /** The scheduleRedial update (already validated): answered once the loop has routed and written it. */
  scheduleRedial(r: RedialRequest): Promise<RedialAnswer> {
    return new Promise((answer) => {
      this.redials.push({ request: checkRedialRequest(r) as RedialRequest, answer });
      this.poke();
    });
  }

  held(): { cached: number[]; inFlight: number[] } {
    return { cached: this.cache.map((c) => c.id), inFlight: [...this.inFlight.keys()] };
  }

  // What is on its way: starts and grants go out without the loop waiting for them.

  /**
   * A start or a grant sent in the background. What is on its way is counted, and awaited before a
   * pause, a stop or continue-as-new (the server drops a signal whose sender has closed).
   */
  track(p: Promise<unknown>, start?: ToStart): void {
    this.movesPending++;
    if (start) this.starting.set(start.contact.id, start);
    // one handler pair, no finally: every promise in workflow code costs the SDK a stack trace
    p.then(
      (started) => {
        this.movesPending--;
        if (!start) return;
        this.starting.delete(start.contact.id);
        // wake the loop: a retry is due, a reschedule waited for this child, or more may start
        if (started === false || this.reschedules.length > 0 || !start.lineGranted) this.poke();
      },
      (err) => {
        this.movesPending--;
        this.moveError ??= err;
        this.poke();
      },
    );
  }

  /** Reschedules to send now; one for a child whose start is on its way waits until it runs. */
  takeReschedules(): RedialRequest[] {
    const now = this.reschedules.filter((r) => !this.starting.has(r.contactId));
    this.reschedules = this.reschedules.filter((r) => this.starting.has(r.contactId));
    return now;
  }

  /** Nothing queued that continue-as-new would lose: it may go now. */
  get mayContinueAsNew(): boolean {
    return this.reschedules.length === 0 && this.redials.length === 0;
  }

  /** A batch run (finishWhenDone) ends when nothing is left; an open one never does (§5a). */
  get finishedWhenDone(): boolean {
    return this.opts.finishWhenDone && this.idle && this.redials.length === 0;
  }

  /** When the loop wakes by itself: the next look at the database, or a start to retry. */
  wakeAt(): number {
    return Math.min(this.nextRefillAt(), this.retryStartAt ?? Infinity);
  }

  get linesInUse(): number {
    let n = 0;
    for (const f of this.inFlight.values()) if (f.hasLine) n++;
    return n;
  }

  /** With agents and contacts waiting for them: look at least this often (see PACING_REFRESH_MS). */
  private pacingRefreshMs(): number | undefined {
    if (this.agentCapacity === null || this.cache.length === 0) return undefined;
    return this.agentCapacity > 0 ? PACING_REFRESH_MS : PACING_IDLE_REFRESH_MS;
  }

  /** When the cache should next be refilled from the database (Infinity: only on a signal). */
  nextRefillAt(): number {
    const pacingRefreshMs = this.pacingRefreshMs();
    const refresh = pacingRefreshMs === undefined ? Infinity : this.lastRefillAt + pacingRefreshMs;
    if (this.cache.length >= this.settings.lines) return refresh;
    const earliest = this.lastRefillAt + MIN_REFILL_GAP_MS;
    if (this.changed) return earliest;
    // an open campaign with nothing to do waits for the CRM's signals, looking itself only rarely
    const interval = this.idle ? this.opts.idleRefillIntervalMs : this.opts.refillIntervalMs;
    let at = Math.min(this.lastRefillAt + interval, refresh);
    if (this.nextRedialAt !== null) {
      at = Math.min(at, new Date(this.nextRedialAt).getTime() - this.opts.lookaheadMs);
    }
    return Math.max(earliest, at);
  }

  /** How many contacts to ask for: enough to keep every line busy, and a line's worth spare. */
  refillLimit(): number {
    return Math.max(0, 2 * this.settings.lines - this.cache.length);
  }

  /** How many not-yet-due redials may wait on their timers at once (they hold no line). */
  lookaheadLimit(): number {
    const waiting = this.inFlight.size - this.linesInUse;
    return Math.max(0, Math.max(20, 4 * this.settings.lines) - waiting);
  }

  /**
   * A look at the database begins: what to ask for, under a new reservation number. A change told
   * while it runs (a CRM's row committed after its snapshot, §8) makes the campaign look again.
   */
  startRefill(now: number): { limit: number; lookaheadLimit: number; seq: number; withProgress: boolean } {
    const limit = this.refillLimit();
    this.reservationSeq += 1;
    this.changed = false;
    const counted = this.progress ? Date.parse(this.progress.countedAt) : -Infinity;
    // every PROGRESS_EVERY_MS while dialing, and on every look once nothing is dialing (a burst's
    // last attempts are counted; looks are rare then)
    const quiet = this.linesInUse === 0 && this.cache.length === 0;
    const withProgress = quiet || now - counted >= PROGRESS_EVERY_MS;
    return { limit, lookaheadLimit: this.lookaheadLimit(), seq: this.reservationSeq, withProgress };
  }

  /** The count a look brought back (startRefill asks for one every PROGRESS_EVERY_MS). */
  counted(progress: CampaignProgress | undefined, now: number): void {
    if (progress) this.progress = { ...progress, countedAt: new Date(now).toISOString() };
  }

  /** What the look found (see startRefill). */
  addToCache(
    contacts: CachedContact[],
    nextRedialAt: string | null,
    now: number,
    agentCapacity: number | null = null,
    pacing?: PacingView,
  ): void {
    this.agentCapacity = agentCapacity;
    this.pacing = pacing;
    // A contact may come back while its last attempt's report is still on its way (the row was
    // recorded first): it stays in the cache until that child has reported, see nextMoves().
    const known = new Set(this.cache.map((c) => c.id));
    this.cache.push(...contacts.filter((c) => !known.has(c.id)));
    this.cache.sort(dialOrder(now));
    this.nextRedialAt = nextRedialAt;
    this.lastRefillAt = now;
  }

  /** Lines this campaign may use now: its lines, or fewer when its agents cannot take more. */
  get capacity(): number {
    return this.agentCapacity === null
      ? this.settings.lines
      : Math.min(this.settings.lines, this.agentCapacity);
  }

  /**
   * Who may go now (§5): free lines go down one order over everything that is due, wherever it
   * waits, see dueWork(). Redials not due yet start at once without a line (their child waits on
   * its own durable timer), a few at a time (WAITING_STARTS_AT_ONCE, counting those on their way).
   */
  nextMoves(now: number): { grants: LineRequest[]; starts: ToStart[] } {
    let free = this.capacity - this.linesInUse;
    const grants: LineRequest[] = [];
    const starts: ToStart[] = [];
    const startsWait = this.retryStartAt !== null && now < this.retryStartAt;
    for (const w of this.dueWork(now)) {
      if (free <= 0) break;
      if (w.child) {
        w.child.hasLine = true;
        grants.push({ contactId: w.child.contactId, attemptNo: w.child.attemptNo, dueAt: w.child.dueAt });
      } else if (startsWait) continue;
      else starts.push({ contact: w.contact!, lineGranted: true });
      free--;
    }
    this.lineRequests = this.lineRequests.filter((q) => this.waitsForLine(q));
    if (!startsWait) {
      this.retryStartAt = null;
      starts.push(...this.waitingStarts(now));
    }
    for (const s of starts) this.markStarted(s.contact, now, s.lineGranted);
    const started = new Set(starts.map((s) => s.contact.id));
    this.cache = this.cache.filter((c) => !started.has(c.id));
    return { grants, starts };
  }

  /** Cached redials not due yet whose child may start now, soonest first. */
  private waitingStarts(now: number): ToStart[] {
    let room = WAITING_STARTS_AT_ONCE - [...this.starting.values()].filter((s) => !s.lineGranted).length;
    const starts: ToStart[] = [];
    const nowIso = new Date(now).toISOString();
    for (const c of this.cache) {
      if (room <= 0) break;
      if (this.inFlight.has(c.id) || dialTier(c.redialAt, nowIso) !== 2) continue;
      starts.push({ contact: c, lineGranted: false });
      room--;
    }
    return starts;
  }

  /**
   * Everything that may take a line now, in §5 order: children without a line whose time has come
   * (by what the campaign knows of their time, whether their request has arrived yet or not) and
   * cached contacts that are due and not still in flight. Due redials first, oldest redial_time
   * first, then new contacts by id. A child whose start is still on its way (`starting`) is not
   * granted yet: a grant signalled before the child exists would be lost, and the campaign would
   * count a line the child never got.
   */
  dueWork(
    now: number,
  ): { child?: InFlightContact; contact?: CachedContact; at: string | null; id: number }[] {
    const starting = this.starting;
    const asked = new Set(this.lineRequests.filter((q) => this.waitsForLine(q)).map((q) => q.contactId));
    const work: { child?: InFlightContact; contact?: CachedContact; at: string | null; id: number }[] = [];
    for (const f of this.inFlight.values()) {
      if (!f.hasLine && !starting.has(f.contactId) && (asked.has(f.contactId) || dueBy(f) <= now))
        work.push({ child: f, at: f.dueAt, id: f.contactId });
    }
    const nowIso = new Date(now).toISOString();
    for (const c of this.cache) {
      if (!this.inFlight.has(c.id) && dialTier(c.redialAt, nowIso) !== 2)
        work.push({ contact: c, at: c.redialAt, id: c.id });
    }
    return work.sort((a, b) => {
      if ((a.at === null) !== (b.at === null)) return a.at === null ? 1 : -1;
      if (a.at !== b.at && a.at !== null && b.at !== null) return a.at < b.at ? -1 : 1;
      return a.id - b.id;
    });
  }

  private waitsForLine(q: LineRequest): boolean {
    const f = this.inFlight.get(q.contactId);
    return f !== undefined && f.attemptNo === q.attemptNo && !f.hasLine;
  }

  private markStarted(c: CachedContact, now: number, hasLine: boolean): void {
    this.inFlight.set(c.id, {
      contactId: c.id,
      attemptNo: c.attemptNo,
      startedAt: new Date(now).toISOString(),
      dueAt: c.redialAt,
      hasLine,
    });
  }

  /** A child could not be started yet (its previous run still closing): try again shortly. */
  startFailed(c: CachedContact, now: number): void {
    this.inFlight.delete(c.id);
    this.cache.push(c);
    this.cache.sort(dialOrder(now));
    this.retryStartAt = now + 1000;
  }

  requestLine(r: LineRequest): void {
    const f = this.inFlight.get(r.contactId);
    if (!f || f.attemptNo !== r.attemptNo || f.hasLine) return;
    delete f.heldBackUntil;
    delete f.heldBackBy;
    if (!this.lineRequests.some((q) => q.contactId === r.contactId)) this.lineRequests.push(r);
  }

  returnLine(contactId: number, attemptNo: number, heldBack?: { until: string; rule: string }): void {
    const f = this.inFlight.get(contactId);
    if (!f || f.attemptNo !== attemptNo) return;
    f.hasLine = false;
    if (heldBack) {
      f.heldBackUntil = heldBack.until;
      f.heldBackBy = heldBack.rule;
    }
  }

  /**
   * A child reported. Returns a CRM redial that waited for this call to end (§8) and that the
   * attempt did not take itself: the row is to be written for it now.
   */
  finished(r: AttemptResult): RedialRequest | undefined {
    const f = this.inFlight.get(r.contactId);
    if (!f || f.attemptNo !== r.attemptNo) return undefined; // a duplicate or stale report
    this.inFlight.delete(r.contactId);
    this.lineRequests = this.lineRequests.filter((q) => q.contactId !== r.contactId);
    this.changed = true;
    const after = this.redialsAfterCall.get(r.contactId);
    this.redialsAfterCall.delete(r.contactId);
    const redial =
      after !== undefined && r.honouredReschedule !== after
        ? { contactId: r.contactId, at: after }
        : undefined;
    if (r.error !== undefined) {
      this.toRelease.push(r.contactId);
      return redial;
    }
    if (!r.withdrawn) this.count(r);
    return redial;
  }

  private count(r: AttemptResult): void {
    this.stats.attemptsFinished += 1;
    const name = (lastStateName(r.lastState) ?? String(r.lastState)) as keyof CampaignStats['byLastState'];
    this.stats.byLastState[name] = (this.stats.byLastState[name] ?? 0) + 1;
    const cs = String(r.contactSuccessful);
    this.stats.byContactSuccessful[cs] = (this.stats.byContactSuccessful[cs] ?? 0) + 1;
  }

  /**
   * Where a CRM redial goes (§8). A cached contact's time moves here. A child in flight is to be
   * rescheduled (its timer moves if it has not dialed); one that holds a line may be dialing
   * already, so the redial is also kept until its call ends (see finished()). Otherwise the
   * contact's row is to be written.
   */
  routeRedial(r: RedialRequest, now: number): 'cached' | 'child' | 'row' {
    const cached = this.cache.find((c) => c.id === r.contactId);
    if (cached) {
      cached.redialAt = r.at;
      this.cache.sort(dialOrder(now));
      return 'cached';
    }
    const f = this.inFlight.get(r.contactId);
    if (!f) return 'row';
    if (f.hasLine) this.redialsAfterCall.set(r.contactId, r.at);
    f.dueAt = r.at;
    delete f.heldBackUntil;
    delete f.heldBackBy;
    return 'child';
  }

  /** Takes one contact out of the cache if it is there (not started yet). */
  takeFromCache(contactId: number): CachedContact | undefined {
    const i = this.cache.findIndex((c) => c.id === contactId);
    return i < 0 ? undefined : this.cache.splice(i, 1)[0];
  }

  /** Nothing cached, nothing in flight, and the last look at the database found nothing to come. */
  get done(): boolean {
    return (
      this.cache.length === 0 &&
      this.inFlight.size === 0 &&
      !this.changed &&
      this.nextRedialAt === null &&
      this.lastRefillAt > -Infinity
    );
  }

  /** Nothing cached, nothing in flight, no redial pending: an open campaign waiting for the CRM. */
  get idle(): boolean {
    return this.done && this.redialsAfterCall.size === 0;
  }

  /** Empties the cache (pause, stop) and the failed ones: these go back to the database. */
  drainCache(): number[] {
    return [...this.cache.splice(0, this.cache.length).map((c) => c.id), ...this.toRelease.splice(0)];
  }

  private heldBackCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const f of this.inFlight.values()) {
      if (f.heldBackBy && !f.hasLine) counts[f.heldBackBy] = (counts[f.heldBackBy] ?? 0) + 1;
    }
    return counts;
  }

  view(status: CampaignStatus = this.status): CampaignStatusView {
    const dialing = this.linesInUse;
    return {
      name: this.settings.name,
      status: this.requestedStatus(status),
      cached: this.cache.length,
      inFlight: this.inFlight.size,
      dialing,
      waiting: this.inFlight.size - dialing,
      heldBack: this.heldBackCounts(),
      ...(this.pacing ? { pacing: this.pacing } : {}),
      ...(this.progress ? { progress: this.progress } : {}),
      stats: { ...this.stats, byContactSuccessful: byName(this.stats.byContactSuccessful) },
      nextRedialAt: this.nextRedialAt,
      runsSoFar: this.runsSoFar,
    };
  }

  /** One line for the Temporal UI (markdown): the status and what the campaign is doing. */
  details(): string {
    const v = this.view();
    const parts = [`**${v.status}**`];
    if (v.progress) parts.push(`${v.progress.done} of ${v.progress.total} contacts done`);
    parts.push(`${v.cached} cached`, `${v.dialing} dialing`, `${v.waiting} waiting`);
    parts.push(`${v.stats.attemptsFinished} attempts finished`);
    if (v.nextRedialAt) parts.push(`next redial ${v.nextRedialAt}`);
    return parts.join(' · ');
  }

  /** A pause or stop shows at once, before the loop has written it to the campaign's row. */
  private requestedStatus(status: CampaignStatus): CampaignStatus {
    if (status === 'stopped' || status === 'completed') return status;
    if (this.stopping) return 'stopping';
    return this.paused ? 'paused' : status === 'paused' ? 'running' : status;
  }

  carry(): CampaignCarry {
    return {
      settings: this.settings,
      cache: this.cache,
      inFlight: [...this.inFlight.values()],
      lineRequests: this.lineRequests,
      stats: this.stats,
      paused: this.paused,
      stopping: this.stopping,
      reservationSeq: this.reservationSeq,
      runsSoFar: this.runsSoFar + 1,
      toRelease: this.toRelease,
      agentCapacity: this.agentCapacity,
      redialsAfterCall: [...this.redialsAfterCall].map(([contactId, at]) => ({ contactId, at })),
    };
  }
}

/** How often a look at the database also counts the campaign's contacts. */
const PROGRESS_EVERY_MS = 10_000;

/** Counts keyed by ContactSuccessful's value, keyed by its name (§3) instead. */
function byName(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counts).map(([k, n]) => [contactSuccessfulName(Number(k)) ?? k, n]),
  );
}

/** When a waiting child may dial by what the campaign knows: its redial time, or later if held back. */
function dueBy(f: InFlightContact): number {
  const due = f.dueAt === null ? -Infinity : Date.parse(f.dueAt);
  return f.heldBackUntil ? Math.max(due, Date.parse(f.heldBackUntil)) : due;
}
