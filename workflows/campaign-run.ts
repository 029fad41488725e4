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
  nextRefillAt(pacingRefreshMs?: number): number {
    const refresh = pacingRefreshMs === undefined ? Infinity : this.lastRefillAt + pacingRefreshMs;
    if (this.cache.length >= this.settings.lines) return refresh;
    const earliest = this.lastRefillAt + MIN_REFILL_GAP_MS;
    if (this.changed) return earliest;
    let at = Math.min(this.lastRefillAt + this.opts.refillIntervalMs, refresh);
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

  /**
   * Who may go now. Redials not due yet start at once without a line (their child waits on its
   * own durable timer). Free lines go first to children whose redial time has come, oldest
   * redial first, then to due contacts in the cache in §5 order.
   */
  /** Lines this campaign may use now: its lines, or fewer when its agents cannot take more. */
  get capacity(): number {
    return this.agentCapacity === null
      ? this.settings.lines
      : Math.min(this.settings.lines, this.agentCapacity);
  }

  /**
   * `waitingStarts`: how many children that are not due yet may be started now (the look-ahead's
   * redials go out a few at a time, so their burst does not hold up the ones due first).
   */
  nextMoves(now: number, waitingStarts = Infinity): { grants: LineRequest[]; starts: ToStart[] } {
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

  finished(r: AttemptResult): void {
    const f = this.inFlight.get(r.contactId);
    if (!f || f.attemptNo !== r.attemptNo) return; // a duplicate or stale report
    this.inFlight.delete(r.contactId);
    this.lineRequests = this.lineRequests.filter((q) => q.contactId !== r.contactId);
    this.changed = true;
    if (r.error !== undefined) {
      this.toRelease.push(r.contactId);
      return;
    }
    if (r.withdrawn) return;
    this.stats.attemptsFinished += 1;
    const name = (lastStateName(r.lastState) ?? String(r.lastState)) as keyof CampaignStats['byLastState'];
    this.stats.byLastState[name] = (this.stats.byLastState[name] ?? 0) + 1;
    const cs = String(r.contactSuccessful);
    this.stats.byContactSuccessful[cs] = (this.stats.byContactSuccessful[cs] ?? 0) + 1;
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
      status,
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
    };
  }
}
