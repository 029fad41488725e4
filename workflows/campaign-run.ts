import {
  type AttemptResult,
  type CachedContact,
  type CampaignCarry,
  type CampaignOptions,
  type CampaignSettings,
  type CampaignStats,
  type CampaignStatus,
  type CampaignStatusView,
  type InFlightContact,
  type LineRequest,
  type PacingView,
  type RedialRequest,
  dialOrder,
  dialTier,
  lastStateName,
} from './shared';

/** Refills that find nothing new are spaced at least this far apart (no busy loop on a locked row). */
const MIN_REFILL_GAP_MS = 250;

/** What to start: a child that may dial at once (holds a line) or one that waits for its time. */
export interface ToStart {
  contact: CachedContact;
  lineGranted: boolean;
}

/**
 * The campaign's in-memory state: the cache of due contacts waiting for a line (§6), the children
 * in flight and which of them hold lines, the queue of children whose redial time has come, the
 * counters, and when to look at the database again. Pure bookkeeping, no I/O; the workflow
 * function drives it. Everything here survives continue-as-new through carry().
 */
export class CampaignRun {
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
  /** The dialing mode's last answer, for the status view (not carried: the next refill has it). */
  pacing?: PacingView;
  /** CRM redials for contacts being dialed: written once their call has ended (§8). */
  redialsAfterCall: Map<number, string>;

  constructor(
    public settings: CampaignSettings,
    private readonly opts: CampaignOptions,
    carry?: CampaignCarry,
  ) {
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
  }

  get linesInUse(): number {
    let n = 0;
    for (const f of this.inFlight.values()) if (f.hasLine) n++;
    return n;
  }

  /**
   * When the cache should next be refilled from the database (Infinity: only on a signal).
   * `pacingRefreshMs`: with agents, look at least this often (their pacing changes as they come
   * free, which sends no signal).
   */
  nextRefillAt(pacingRefreshMs?: number, idleRefillMs?: number): number {
    const refresh = pacingRefreshMs === undefined ? Infinity : this.lastRefillAt + pacingRefreshMs;
    if (this.cache.length >= this.settings.lines) return refresh;
    const earliest = this.lastRefillAt + MIN_REFILL_GAP_MS;
    if (this.changed) return earliest;
    // an open campaign with nothing to do waits for the CRM's signals, looking itself only rarely
    const interval = this.idle && idleRefillMs !== undefined ? idleRefillMs : this.opts.refillIntervalMs;
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
    this.changed = false;
  }

  /** Lines this campaign may use now: its lines, or fewer when its agents cannot take more. */
  get capacity(): number {
    return this.agentCapacity === null
      ? this.settings.lines
      : Math.min(this.settings.lines, this.agentCapacity);
  }

  /**
   * Who may go now. `oneOrder` (contract §5): free lines go down one order over everything that is
   * due, wherever it waits, see dueWork(). Without it (workflows recorded before that order),
   * children that asked for a line go first, then the cache. Redials not due yet start at once
   * without a line (their child waits on its own durable timer), `waitingStarts` of them at most:
   * the look-ahead's redials go out a few at a time, so their burst does not hold up the ones due.
   */
  nextMoves(
    now: number,
    waitingStarts = Infinity,
    oneOrder = false,
    starting: { has(contactId: number): boolean } = new Set<number>(),
  ): { grants: LineRequest[]; starts: ToStart[] } {
    if (!oneOrder) return this.nextMovesRequestsFirst(now, waitingStarts);
    let free = this.capacity - this.linesInUse;
    const grants: LineRequest[] = [];
    const starts: ToStart[] = [];
    const startsWait = this.retryStartAt !== null && now < this.retryStartAt;
    for (const w of this.dueWork(now, starting)) {
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
      const nowIso = new Date(now).toISOString();
      for (const c of this.cache) {
        if (waitingStarts <= 0) break;
        if (this.inFlight.has(c.id) || dialTier(c.redialAt, nowIso) !== 2) continue;
        starts.push({ contact: c, lineGranted: false });
        waitingStarts--;
      }
    }
    for (const s of starts) this.markStarted(s.contact, now, s.lineGranted);
    const started = new Set(starts.map((s) => s.contact.id));
    this.cache = this.cache.filter((c) => !started.has(c.id));
    return { grants, starts };
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
    starting: { has(contactId: number): boolean } = new Set<number>(),
  ): { child?: InFlightContact; contact?: CachedContact; at: string | null; id: number }[] {
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

  private nextMovesRequestsFirst(
    now: number,
    waitingStarts: number,
  ): { grants: LineRequest[]; starts: ToStart[] } {
    let free = this.capacity - this.linesInUse;
    const grants: LineRequest[] = [];
    this.lineRequests.sort((a, b) =>
      a.dueAt === b.dueAt ? a.contactId - b.contactId : (a.dueAt ?? '') < (b.dueAt ?? '') ? -1 : 1,
    );
    while (free > 0 && this.lineRequests.length > 0) {
      const r = this.lineRequests.shift()!;
      const f = this.inFlight.get(r.contactId);
      if (!f || f.attemptNo !== r.attemptNo || f.hasLine) continue;
      f.hasLine = true;
      grants.push(r);
      free--;
    }
    const starts: ToStart[] = [];
    if (this.retryStartAt !== null && now < this.retryStartAt) return { grants, starts };
    this.retryStartAt = null;
    const nowIso = new Date(now).toISOString();
    const keep: CachedContact[] = [];
    for (const c of this.cache) {
      const due = dialTier(c.redialAt, nowIso) !== 2;
      if (this.inFlight.has(c.id) || (due && free <= 0) || (!due && waitingStarts <= 0)) {
        keep.push(c); // its previous attempt has not reported yet, no line is free, or later
        continue;
      }
      this.markStarted(c, now, due);
      starts.push({ contact: c, lineGranted: due });
      if (due) free--;
      else waitingStarts--;
    }
    this.cache = keep;
    return { grants, starts };
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

  view(status: CampaignStatus): CampaignStatusView {
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
      stats: this.stats,
      nextRedialAt: this.nextRedialAt,
      runsSoFar: this.runsSoFar,
    };
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

/** When a waiting child may dial by what the campaign knows: its redial time, or later if held back. */
function dueBy(f: InFlightContact): number {
  const due = f.dueAt === null ? -Infinity : Date.parse(f.dueAt);
  return f.heldBackUntil ? Math.max(due, Date.parse(f.heldBackUntil)) : due;
}
