import { eq } from 'drizzle-orm';
import { campaigns } from '../db/schema';
import { maskPhone } from '../infra/logger';
import {
  LastState,
  dialOrder,
  type CachedContact,
  type CampaignSettings,
  type MachineDetection,
} from '../domain/contract';
import { type CampaignStatus } from '../workflows/shared';
import { type RecoveryOptions, type RecoveryReport, recoverOrphans } from '../ops/recovery';
import { LIVE_ANSWER_STATES, abandonedWhere } from '../ops/abandon-ledger';
import { type DialingMode, type Pacing, type PacingStats, pace } from '../domain/pacing';
import { decideRedial, type RedialRow } from '../domain/redial-rules';
import { permanent } from './errors';
import type { Deps } from './index';

export interface ReserveInput {
  campaign: string;
  /** Workflow id of the campaign taking the contacts (recorded on the row). */
  holder: string;
  /** Deterministic per reservation: a retried activity returns the rows it already took. */
  reservation: string;
  /** Due redials and new contacts: as many as the cache has room for. */
  limit: number;
  /** Redials due within the look-ahead window: their children wait without a line. */
  lookaheadLimit: number;
  maxAttempts: number;
  lookaheadMs: number;
}

export interface ReserveResult {
  contacts: CachedContact[];
  /** The earliest redial_time of an eligible contact that was not taken (not due yet). */
  nextRedialAt: string | null;
  /**
   * With agents assigned to the campaign: how many calls it may have in flight (progressive
   * pacing, one per agent that is available or on a call); null without agents.
   */
  agentCapacity: number | null;
  /** The campaign's dialing mode and what it allows now (absent in results from before modes). */
  pacing?: Pacing;
}

/** How far ahead a wrap-up's end counts as an agent coming free (predictive). */
const FREE_SOON_MS = 5_000;
/** Predictive looks at this many of the campaign's latest placed attempts. */
const PACING_SAMPLE = 200;

/** The campaign's mode and its agents now: the calls in flight it may have (lib/pacing.ts). */
async function paceCampaign(pg: Deps['db']['sql'], campaign: string, now: Date): Promise<Pacing> {
  const soon = new Date(now.getTime() + FREE_SOON_MS);
  const [row] = await pg<
    {
      dialing_mode: DialingMode;
      calls_per_agent: number;
      abandon_target: number;
      assigned: number;
      free: number;
      on_call: number;
      free_soon: number;
    }[]
  >`
    select c.dialing_mode, c.calls_per_agent, c.abandon_target,
      count(a.id)::int as assigned,
      count(a.id) filter (where a.status = 'available' or (a.status = 'wrap-up' and a.wrap_up_until <= ${now}))::int as free,
      count(a.id) filter (where a.status = 'on-call')::int as on_call,
      count(a.id) filter (where a.status = 'wrap-up' and a.wrap_up_until > ${now} and a.wrap_up_until <= ${soon})::int as free_soon
    from campaigns c left join agents a on a.campaign_name = c.name
    where c.name = ${campaign}
    group by c.id`;
  if (!row) return { mode: 'agentless', capacity: null, callsPerFreeAgent: null };
  const agents = { assigned: row.assigned, free: row.free, onCall: row.on_call, freeSoon: row.free_soon };
  let stats: PacingStats | undefined;
  if (row.dialing_mode === 'predictive' && row.assigned > 0) {
    const [r] = await pg<
      { placed: number; live: number; abandons: number; ring: number | null; talk: number | null }[]
    >`
      with recent as (
        select last_state, facts, placed_at, ended_at from call_attempts
        where campaign_name = ${campaign} and placed and ended_at is not null
        order by ended_at desc limit ${PACING_SAMPLE})
      select count(*)::int as placed,
        count(*) filter (where last_state = any(${LIVE_ANSWER_STATES}::int[]))::int as live,
        count(*) filter (where ${abandonedWhere(pg)})::int as abandons,
        avg(greatest(0, extract(epoch from ended_at - placed_at) - coalesce((facts->>'callDurationSeconds')::numeric, 0)))
          filter (where last_state = any(${LIVE_ANSWER_STATES}::int[]))::float8 as ring,
        avg((facts->>'callDurationSeconds')::numeric)
          filter (where last_state in (${LastState.Connected}, ${LastState.AgentHangUp}))::float8 as talk
      from recent`;
    stats = {
      placed: r?.placed ?? 0,
      liveAnswers: r?.live ?? 0,
      abandons: r?.abandons ?? 0,
      meanRingSeconds: r?.ring ?? null,
      meanTalkSeconds: r?.talk ?? null,
    };
  }
  return pace(row.dialing_mode, agents, {
    callsPerAgent: row.calls_per_agent,
    abandonTarget: row.abandon_target,
    stats,
  });
}

type Row = {
  id: string | number;
  phone_number: string;
  name: string | null;
  redial_time: Date | null;
  number_of_contacts: number;
  cached_from: number;
  attempt_no: number;
};

const toCached = (r: Row): CachedContact => ({
  id: Number(r.id),
  phoneNumber: r.phone_number,
  display: { name: r.name, phone: maskPhone(r.phone_number) },
  redialAt: r.redial_time ? r.redial_time.toISOString() : null,
  numberOfContacts: r.number_of_contacts,
  attemptNo: r.attempt_no,
  cachedFrom: r.cached_from,
});

export const contactActivities = (deps: Deps) => ({
  async loadCampaign({ name }: { name: string }): Promise<CampaignSettings> {
    const [row] = await deps.db.db.select().from(campaigns).where(eq(campaigns.name, name));
    if (!row) throw permanent('UnknownCampaign', `No campaign named "${name}"`);
    return {
      name: row.name,
      maxAttempts: row.maxAttempts,
      lines: row.lines,
      callsPerSecond: row.callsPerSecond,
      callerId: row.callerId,
      ringTimeoutSeconds: row.ringTimeoutSeconds,
      retryRules: row.retryRules,
      machineDetection: row.machineDetection as MachineDetection,
      dialingMode: row.dialingMode,
    };
  },

  async setCampaignStatus({ name, status }: { name: string; status: CampaignStatus }): Promise<void> {
    await deps.db.db.update(campaigns).set({ status }).where(eq(campaigns.name, name));
  },

  /**
   * Takes eligible contacts into the campaign's cache (§5, §6) in one statement. Candidates come
   * in the contract's order, each tier an ordered range of contacts_selection_idx: due redials by
   * redial_time, then new contacts by id; redials due within the look-ahead window come on top,
   * with a limit of their own (they wait on their own timers, they take no place in the cache). The rows
   * are locked with SKIP LOCKED, so no other campaign run or worker can take the same contact, and
   * set to 3 together with what to restore on pause or stop.
   */
  async reserveContacts(input: ReserveInput): Promise<ReserveResult> {
    await deps.onCampaignActive?.(input.campaign);
    const { sql: pg } = deps.db;
    const now = deps.clock();
    // rows are aliased c in both statements below
    const nextAttempt = pg`
      (select greatest(coalesce(max(a.attempt_no), 0), c.number_of_contacts) + 1 from call_attempts a
        where a.contact_id = c.id and a.campaign_name = ${input.campaign}) as attempt_no`;
    const again = await pg<Row[]>`
      select c.id, c.phone_number, c.name, c.redial_time, c.number_of_contacts, c.cached_from, ${nextAttempt}
      from contacts c where c.cache_reservation = ${input.reservation} and c.contact_successful = 3`;
    let taken = again;
    if (again.length === 0) {
      const horizon = new Date(now.getTime() + input.lookaheadMs);
      const eligible = pg`
        campaign_name = ${input.campaign}
        and contact_successful in (0, 2)
        and number_of_contacts < ${input.maxAttempts}
        and phone_number is not null and btrim(phone_number) <> ''
        and (hold_until is null or hold_until <= ${now})`;
      taken = await pg<Row[]>`
        with candidates as (
          (select id, 0 as tier from contacts where ${eligible} and redial_time <= ${now}
            order by redial_time nulls last, id limit ${input.limit})
          union all
          (select id, 1 from contacts where ${eligible} and redial_time is null
            order by redial_time nulls last, id limit ${input.limit})
        ), picked_now as (
          select c.id from contacts c join candidates k on k.id = c.id
          where c.contact_successful in (0, 2)
          order by k.tier, c.redial_time, c.id
          limit ${input.limit}
          for update of c skip locked
        ), picked_soon as (
          select id from contacts where ${eligible} and redial_time > ${now} and redial_time <= ${horizon}
          order by redial_time nulls last, id
          limit ${input.lookaheadLimit}
          for update skip locked
        ), picked as (
          select id from picked_now union all select id from picked_soon
        ), taken as (
          update contacts c set
            cached_from = c.contact_successful,
            contact_successful = 3,
            cached_by = ${input.holder},
            cache_reservation = ${input.reservation},
            cached_at = now()
          from picked where c.id = picked.id
          returning c.id, c.phone_number, c.name, c.redial_time, c.number_of_contacts, c.cached_from, ${nextAttempt}
        ), logged as (
          -- the decision log (issue 10): taken, as what, in the same statement
          insert into contact_events (contact_id, campaign_name, attempt_no, kind, reason, until)
          select id, ${input.campaign}, attempt_no, 'cached',
            case when redial_time is null then 'taken into the cache: a new contact'
              when redial_time <= ${now} then 'taken into the cache: a redial that is due'
              else 'taken into the cache: a redial due soon (its workflow waits for it)' end,
            redial_time
          from taken
        )
        select * from taken`;
    }
    const [next] = await pg<{ at: Date | null }[]>`
      select min(redial_time) as at from contacts
      where campaign_name = ${input.campaign}
        and contact_successful in (0, 2)
        and number_of_contacts < ${input.maxAttempts}
        and phone_number is not null and btrim(phone_number) <> ''
        and redial_time is not null`;
    const pacing = await paceCampaign(pg, input.campaign, now);
    return {
      contacts: taken.map(toCached).sort(dialOrder(now.getTime())),
      nextRedialAt: next?.at ? next.at.toISOString() : null,
      agentCapacity: pacing.capacity,
      pacing,
    };
  },

  /**
   * §8: a redial the CRM pushed to the running campaign, for a contact the campaign does not hold
   * in memory (or to move a held one's time on its row too). The row is locked, checked
   * (lib/redial-rules.ts) and written in one transaction with its decision-log row; a refused
   * redial changes nothing on the row and is logged with its reason.
   */
  async scheduleRedial(input: {
    campaign: string;
    holder: string;
    contactId: number;
    at: string;
    maxAttempts: number;
  }): Promise<{ accepted: boolean; reason: string; wrote?: 'time' | 'row' }> {
    return deps.db.sql.begin(async (tx) => {
      const [row] = await tx<RedialRow[]>`
        select campaign_name, contact_successful, number_of_contacts, cached_by, last_state, phone_number
        from contacts where id = ${input.contactId} for update`;
      const d = decideRedial(row, input);
      const log = (kind: string, reason: string) => tx`
        insert into contact_events (contact_id, campaign_name, kind, reason, until)
        values (${input.contactId}, ${input.campaign}, ${kind}, ${reason}, ${new Date(input.at)})`;
      if ('refused' in d) {
        if (row) await log('refused', `a redial pushed to the running campaign was refused: ${d.refused}`);
        return { accepted: false, reason: d.refused };
      }
      const at = new Date(input.at);
      if (d.write === 'time') {
        await tx`update contacts set redial_time = ${at} where id = ${input.contactId}`;
      } else {
        await tx`update contacts set contact_successful = 2, redial_time = ${at}, hold_until = null
          where id = ${input.contactId}`;
      }
      const reason =
        d.write === 'time'
          ? 'it waits in the campaign; its time moved'
          : 'written to the row (NoSuccess, redial_time); the campaign dials it then';
      await log('rescheduled', `a redial was pushed to the running campaign (CRM signal): ${reason}`);
      return { accepted: true, reason, wrote: d.write };
    });
  },

  /** §6 after a crash: contacts at 3 that no live workflow holds go back (see lib/recovery.ts). */
  async recoverContacts(opts: RecoveryOptions): Promise<RecoveryReport> {
    return recoverOrphans(deps.db.sql, deps.temporal, opts);
  },

  /**
   * Returns undialed cached contacts to the value they had before (§6): only rows still at 3
   * and held by this campaign, nothing else on the row changes.
   */
  async releaseContacts({
    holder,
    contactIds,
    holdMs,
  }: {
    holder: string;
    contactIds: number[];
    /** An operator pulled it out: keep it out of every cache this long (time to edit the row). */
    holdMs?: number;
  }): Promise<number> {
    if (contactIds.length === 0) return 0;
    const hold = holdMs ? new Date(deps.clock().getTime() + holdMs) : null;
    const reason = hold
      ? 'released by an operator, undialed; kept out of every cache until the time given'
      : 'given back undialed (the campaign paused or stopped, or its attempt failed)';
    const rows = await deps.db.sql`
      with released as (
        update contacts set
          contact_successful = coalesce(cached_from, 0),
          cached_from = null, cached_by = null, cache_reservation = null, cached_at = null,
          hold_until = coalesce(${hold}, hold_until)
        where id = any(${contactIds}::bigint[]) and contact_successful = 3 and cached_by = ${holder}
        returning id, contact_successful
      ), logged as (
        insert into contact_events (contact_id, campaign_name, kind, reason, until)
        select id, (select campaign_name from contacts k where k.id = released.id), 'released',
          ${reason} || ' → ' || case contact_successful when 2 then 'NoSuccess' else 'NotUsed' end, ${hold}
        from released
      )
      select id from released`;
    return rows.length;
  },
});

export type ContactActivities = ReturnType<typeof contactActivities>;
