/**
 * What the operator's console shows of campaigns (server/console/): every campaign as a card
 * (status, mode, lines in use, progress, dials in the last minute, both abandon rates, whether
 * its calling window is open), and one campaign live. Reads only: each piece is one statement
 * (or one Temporal query), and the console polls them every 2 s.
 */
import { type CampaignBoardRow, campaignBoardRows } from '../db/queries/campaigns';
import { dialsPerMinute, recentDialCounts } from '../db/queries/call-attempts';
import { countContactsByLastState, nextRedials } from '../db/queries/contacts';
import { heldBackCounts } from '../db/queries/contact-events';
import {
  type AbandonLedger,
  DAY_MS,
  type LedgerCounts,
  isOverTarget,
  ledgerPeriodOf,
} from '../domain/abandon';
import { type CallingWindow, isOpen, nextOpen, parseCallingWindow } from '../domain/calling-window';
import { type LastStateName, lastStateName } from '../domain/contract';
import { type CampaignStatusView, campaignWorkflowId } from '../workflows/shared';
import { abandonLedger, recentLedgers } from './abandon-ledger';
import { type AgentView, listAgents } from './agents';
import { type CampaignDeps, campaignWorkflowView, requireCampaign } from './campaign-operations';

/** Whether the campaign's calling window is open now where it can tell. */
export interface WindowNow {
  text: string;
  /** The campaign's zone (for callees whose zone is unknown); null: each callee's own decides. */
  zone: string | null;
  /** Open now in the campaign's zone (or everywhere: a window of every hour); null without a zone. */
  open: boolean | null;
  /** When closed: when it opens next in that zone (null: not within 14 days). */
  opensAt: string | null;
}

export interface CampaignCard {
  name: string;
  status: string;
  dialingMode: string;
  lines: number;
  /** Attempts that may have a live call now (their number held: call_attempts.live_number). */
  linesInUse: number;
  /** As the campaign counts it: done = Successful, Unreachable or out of attempts. */
  progress: { total: number; done: number; remaining: number };
  dialsLastMinute: number;
  abandons: AbandonLedger;
  window: WindowNow;
}

export interface CampaignLive {
  card: CampaignCard;
  callerId: string;
  /** The workflow's own view while it runs (cache, calls in flight, pacing); null otherwise. */
  workflow: CampaignStatusView | null;
  /** Its contacts by the LastState of their last attempt ('none': not dialed yet). */
  outcomes: { state: LastStateName | 'none'; contacts: number }[];
  /** Creates sent per minute since `since` (minutes without one absent). */
  dialsPerMinute: { minute: string; dials: number }[];
  since: string;
  nextRedials: { contactId: number; at: string; cached: boolean }[];
  /** Decisions not to dial now in the last HELD_BACK_MS, by kind and rule. */
  heldBack: { kind: string; rule: string; events: number; contacts: number; latest: string }[];
  agents: AgentView[];
}

export interface BoardDeps extends CampaignDeps {
  /** Abandon ledgers read at most this often (default 15 s): a month of attempts is a range scan. */
  ledgerMaxAgeMs?: number;
  clock?: () => Date;
}

/** The console's view of the last 30 minutes of dials, and of recent held-back decisions. */
export const ATTEMPTS_WINDOW_MS = 30 * 60_000;
export const HELD_BACK_MS = 15 * 60_000;
const NEXT_REDIALS = 10;

/** Every hour of every day, no holidays: open whatever the callee's zone. */
const alwaysOpen = (w: CallingWindow) =>
  w.holidays === null &&
  Object.values(w.hours).every((spans) => spans.some((s) => s.start <= 0 && s.end >= 86_400));

export function windowNow(text: string, zone: string | null, now: Date): WindowNow {
  const parsed = parseCallingWindow(text);
  if (parsed.ok && alwaysOpen(parsed.window)) return { text, zone, open: true, opensAt: null };
  if (!parsed.ok || zone === null) return { text, zone, open: null, opensAt: null };
  const open = isOpen(parsed.window, [zone], now);
  const next = open ? null : nextOpen(parsed.window, [zone], now);
  return { text, zone, open, opensAt: next ? next.toISOString() : null };
}

/** A ledger from its counts, as abandonLedger gives it (domain/abandon.ts). */
function ledgerOf(campaign: string, target: number, c: { d30: LedgerCounts; d1: LedgerCounts }, now: Date) {
  const to = new Date(now.getTime() + 1);
  const last30Days = ledgerPeriodOf(c.d30, new Date(now.getTime() - 30 * DAY_MS), to);
  const last24Hours = ledgerPeriodOf(c.d1, new Date(now.getTime() - DAY_MS), to);
  const overTarget = isOverTarget(last30Days, target) || isOverTarget(last24Hours, target);
  return { campaign, target, last30Days, last24Hours, overTarget };
}

function cardOf(
  row: CampaignBoardRow,
  counts: { dials: number; live: number } | undefined,
  abandons: AbandonLedger,
  now: Date,
): CampaignCard {
  const remaining = row.open + row.cached;
  return {
    name: row.name,
    status: row.status,
    dialingMode: row.dialing_mode,
    lines: row.lines,
    linesInUse: counts?.live ?? 0,
    progress: { total: row.total, done: row.total - remaining, remaining },
    dialsLastMinute: counts?.dials ?? 0,
    abandons,
    window: windowNow(row.calling_window, row.time_zone, now),
  };
}

/** The read models, with the abandon ledgers kept for `ledgerMaxAgeMs`. */
export function campaignBoard(deps: BoardDeps) {
  const clock = deps.clock ?? (() => new Date());
  const maxAge = deps.ledgerMaxAgeMs ?? 15_000;
  const sql = deps.db.sql;
  const allLedgers = keptFor(maxAge, clock, () => recentLedgers(sql, clock()));
  const oneLedger = keptFor(maxAge, clock, (key: string) => {
    const [name, target] = JSON.parse(key) as [string, number];
    return abandonLedger(sql, name, clock(), target);
  });
  return {
    /** Every campaign as a card, by name. */
    async cards(): Promise<CampaignCard[]> {
      const now = clock();
      const rows = await campaignBoardRows(sql);
      const names = rows.map((r) => r.name);
      const [counts, ledgers] = await Promise.all([
        recentDialCounts(sql, names, new Date(now.getTime() - 60_000), now),
        allLedgers(''),
      ]);
      const countsOf = new Map(counts.map((c) => [c.campaign, c]));
      const ledgerOfName = new Map(ledgers.map((l) => [l.campaign, l]));
      const zero = { liveAnswers: 0, abandons: 0 };
      return rows.map((r) => {
        const l = ledgerOfName.get(r.name);
        const counted = { d30: l?.last30Days ?? zero, d1: l?.last24Hours ?? zero };
        return cardOf(r, countsOf.get(r.name), ledgerOf(r.name, r.abandon_target, counted, now), now);
      });
    },
    /** One campaign, live; an unknown name is an OperationError (not-found). */
    async live(name: string): Promise<CampaignLive> {
      return campaignLive(deps, name, clock(), (target) => oneLedger(JSON.stringify([name, target])));
    },
  };
}

async function campaignLive(
  deps: BoardDeps,
  name: string,
  now: Date,
  ledger: (target: number) => Promise<AbandonLedger>,
): Promise<CampaignLive> {
  const sql = deps.db.sql;
  const campaign = await requireCampaign(deps.db, name);
  const since = new Date(now.getTime() - ATTEMPTS_WINDOW_MS);
  const [[row], [counts], abandons, workflow, byLs, perMinute, redials, held, agents] = await Promise.all([
    campaignBoardRows(sql, name),
    recentDialCounts(sql, [name], new Date(now.getTime() - 60_000), now),
    ledger(campaign.abandonTarget),
    campaignWorkflowView(deps, name),
    countContactsByLastState(deps.db.db, name),
    dialsPerMinute(sql, name, since),
    nextRedials(sql, {
      campaign: name,
      holder: campaignWorkflowId(name),
      maxAttempts: campaign.maxAttempts,
      now,
      limit: NEXT_REDIALS,
    }),
    heldBackCounts(sql, name, new Date(now.getTime() - HELD_BACK_MS)),
    listAgents(sql, name),
  ]);
  const card = cardOf(row!, counts, abandons, now);
  return {
    card: workflow ? { ...card, status: workflow.status } : card,
    callerId: campaign.callerId,
    workflow,
    outcomes: outcomesOf(byLs),
    dialsPerMinute: perMinute.map((m) => ({ minute: m.minute.toISOString(), dials: m.dials })),
    since: since.toISOString(),
    nextRedials: redials.map((r) => ({
      contactId: Number(r.id),
      at: r.redial_time.toISOString(),
      cached: r.cached,
    })),
    heldBack: held.map((h) => ({ ...h, rule: h.rule ?? 'unrecorded', latest: h.latest.toISOString() })),
    agents,
  };
}

/** Contacts per LastState name, in the contract's order, 'none' (not dialed yet) last. */
function outcomesOf(rows: { ls: number | null; n: number }[]): CampaignLive['outcomes'] {
  const named = rows
    .filter((r) => r.ls !== null)
    .sort((a, b) => a.ls! - b.ls!)
    .map((r) => ({ state: lastStateName(r.ls!) ?? ('none' as const), contacts: r.n }));
  const none = rows.filter((r) => r.ls === null).reduce((a, r) => a + r.n, 0);
  return none > 0 ? [...named, { state: 'none' as const, contacts: none }] : named;
}

/** `load(key)` remembered for `maxAgeMs`: one read per key in that time, however many ask. */
function keptFor<V>(maxAgeMs: number, clock: () => Date, load: (key: string) => Promise<V>) {
  const kept = new Map<string, { at: number; value: Promise<V> }>();
  return (key: string): Promise<V> => {
    const now = clock().getTime();
    const hit = kept.get(key);
    if (hit && now - hit.at < maxAgeMs) return hit.value;
    const value = load(key);
    // one entry per campaign looked at: forget the stale ones now and then
    if (kept.size >= 256) for (const [k, v] of kept) if (now - v.at >= maxAgeMs) kept.delete(k);
    kept.set(key, { at: now, value });
    // a failed read is not kept: the next poll tries again
    value.catch(() => kept.delete(key));
    return value;
  };
}
