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
  byDialOrder,
  lastStateName,
} from './shared';

/** Refills that find nothing new are spaced at least this far apart (no busy loop on a locked row). */
const MIN_REFILL_GAP_MS = 250;

/**
 * The campaign's in-memory state: the cache of undialed contacts (§6), the children in flight,
 * the counters, and when to look at the database again. Pure bookkeeping, no I/O; the workflow
 * function drives it. Everything here survives continue-as-new through carry().
 */
export class CampaignRun {
  cache: CachedContact[];
  inFlight: Map<number, InFlightContact>;
  stats: CampaignStats;
  paused: boolean;
  stopping: boolean;
  reservationSeq: number;
  runsSoFar: number;
  /** Something changed since the last refill (an attempt ended, the CRM asked, a resume). */
  changed = true;
  lastRefillAt = -Infinity;
  nextRedialAt: string | null = null;
  /** Contacts whose previous child was still closing when we tried to start the next one. */
  retryStartAt: number | null = null;
  /** Contacts whose child failed before recording an outcome: back to the database with them. */
  toRelease: number[];

  constructor(
    readonly settings: CampaignSettings,
    private readonly opts: CampaignOptions,
    carry?: CampaignCarry,
  ) {
    this.cache = carry?.cache ?? [];
    this.inFlight = new Map((carry?.inFlight ?? []).map((f) => [f.contactId, f]));
    this.stats = carry?.stats ?? { attemptsFinished: 0, byLastState: {}, byContactSuccessful: {} };
    this.paused = carry?.paused ?? false;
    this.stopping = carry?.stopping ?? false;
    this.reservationSeq = carry?.reservationSeq ?? 0;
    this.runsSoFar = carry?.runsSoFar ?? 0;
    this.toRelease = carry?.toRelease ?? [];
  }

  /** When the cache should next be refilled from the database (Infinity: only on a signal). */
  nextRefillAt(): number {
    if (this.cache.length >= this.settings.lines) return Infinity;
    const earliest = this.lastRefillAt + MIN_REFILL_GAP_MS;
    if (this.changed) return earliest;
    let at = this.lastRefillAt + this.opts.refillIntervalMs;
    if (this.nextRedialAt !== null) {
      at = Math.min(at, new Date(this.nextRedialAt).getTime() - this.opts.lookaheadMs);
    }
    return Math.max(earliest, at);
  }

  /** How many contacts to ask for: enough to keep every line busy, and a line's worth spare. */
  refillLimit(): number {
    return Math.max(0, 2 * this.settings.lines - this.cache.length);
  }

  addToCache(contacts: CachedContact[], nextRedialAt: string | null, now: number): void {
    const known = new Set([...this.cache.map((c) => c.id), ...this.inFlight.keys()]);
    this.cache.push(...contacts.filter((c) => !known.has(c.id)));
    this.cache.sort(byDialOrder);
    this.nextRedialAt = nextRedialAt;
    this.lastRefillAt = now;
    this.changed = false;
  }

  /** Contacts to start now: as many as there are free lines. */
  takeForDialing(now: number): CachedContact[] {
    if (this.retryStartAt !== null && now < this.retryStartAt) return [];
    this.retryStartAt = null;
    const free = this.settings.lines - this.inFlight.size;
    return free > 0 ? this.cache.splice(0, free) : [];
  }

  started(c: CachedContact, now: number): void {
    this.inFlight.set(c.id, {
      contactId: c.id,
      attemptNo: c.numberOfContacts + 1,
      startedAt: new Date(now).toISOString(),
    });
  }

  /** A child could not be started yet (its previous run still closing): try again shortly. */
  startFailed(c: CachedContact, now: number): void {
    this.inFlight.delete(c.id);
    this.cache.unshift(c);
    this.cache.sort(byDialOrder);
    this.retryStartAt = now + 1000;
  }

  finished(r: AttemptResult): void {
    const f = this.inFlight.get(r.contactId);
    if (!f || f.attemptNo !== r.attemptNo) return; // a duplicate or stale report
    this.inFlight.delete(r.contactId);
    this.changed = true;
    if (r.error !== undefined) {
      this.toRelease.push(r.contactId);
      return;
    }
    this.stats.attemptsFinished += 1;
    const name = lastStateName(r.lastState) ?? String(r.lastState);
    this.stats.byLastState[name as keyof CampaignStats['byLastState']] =
      (this.stats.byLastState[name as keyof CampaignStats['byLastState']] ?? 0) + 1;
    const cs = String(r.contactSuccessful);
    this.stats.byContactSuccessful[cs] = (this.stats.byContactSuccessful[cs] ?? 0) + 1;
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

  view(status: CampaignStatus): CampaignStatusView {
    return {
      name: this.settings.name,
      status,
      cached: this.cache.length,
      inFlight: this.inFlight.size,
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
      stats: this.stats,
      paused: this.paused,
      stopping: this.stopping,
      reservationSeq: this.reservationSeq,
      runsSoFar: this.runsSoFar + 1,
      toRelease: this.toRelease,
    };
  }
}
