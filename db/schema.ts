import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  smallint,
  text,
  timestamp,
  unique,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type { CallFacts, RetryRules } from '../domain/contract';

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * The contact rows the CRM shares with us. The columns the contract names (§2 of
 * docs/contract.md) keep their names and types; every other column has a default so that a
 * CRM can insert rows with plain SQL. The cache_* columns are the dialer's own bookkeeping for
 * contacts at contact_successful = 3 (§6): who holds them and what to restore on pause or stop.
 */
export const contacts = pgTable(
  'contacts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    campaignName: text('campaign_name'),
    contactSuccessful: smallint('contact_successful').notNull().default(0),
    lastState: integer('last_state'),
    redialTime: timestamptz('redial_time'),
    numberOfContacts: integer('number_of_contacts').notNull().default(0),
    phoneNumber: text('phone_number'),
    name: text('name'),
    timeZone: text('time_zone'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
    /** contact_successful before the contact was taken into a cache (0 or 2); null when not cached. */
    cachedFrom: smallint('cached_from'),
    /** Workflow id of the campaign whose cache holds the contact. */
    cachedBy: text('cached_by'),
    /** Key of the reservation that took it (makes a retried reservation return the same rows). */
    cacheReservation: text('cache_reservation'),
    cachedAt: timestamptz('cached_at'),
    /** Released by an operator: not taken into a cache again before this time (time to edit it). */
    holdUntil: timestamptz('hold_until'),
  },
  (t) => [
    // Serves the selection query (§5): per campaign, eligible rows only, redials by time first.
    index('contacts_selection_idx')
      .on(t.campaignName, t.redialTime.asc().nullsLast(), t.id)
      .where(sql`${t.contactSuccessful} in (0, 2)`),
    index('contacts_cache_idx')
      .on(t.cachedBy)
      .where(sql`${t.contactSuccessful} = 3`),
    index('contacts_reservation_idx').on(t.cacheReservation),
    // Serves a campaign's status counts (by contact_successful, by last_state) from the index alone.
    index('contacts_campaign_state_idx').on(
      t.campaignName,
      t.contactSuccessful,
      t.lastState,
      t.numberOfContacts,
    ),
    check('contacts_contact_successful_check', sql`${t.contactSuccessful} between -1 and 3`),
    check('contacts_number_of_contacts_check', sql`${t.numberOfContacts} >= 0`),
  ],
);

export const campaigns = pgTable(
  'campaigns',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    name: text('name').notNull().unique(),
    maxAttempts: integer('max_attempts').notNull().default(3),
    lines: integer('lines').notNull().default(5),
    callsPerSecond: real('calls_per_second').notNull().default(1),
    callerId: text('caller_id').notNull(),
    ringTimeoutSeconds: integer('ring_timeout_seconds').notNull().default(30),
    retryRules: jsonb('retry_rules').$type<RetryRules>().notNull(),
    /** Played when a person answers and the campaign has no agent step (or no agent is free). */
    message: text('message')
      .notNull()
      .default('Hello. This is a call from our contact center. We will call you back. Goodbye.'),
    /** Answering-machine detection: off · hangup (hang up on a machine or fax) · message (leave machine_message). */
    machineDetection: text('machine_detection').notNull().default('off'),
    machineMessage: text('machine_message'),
    /** How long an agent's leg may ring before the hand-over is a TransferTimeout. */
    transferTimeoutSeconds: integer('transfer_timeout_seconds').notNull().default(20),
    /** An agent's wrap-up after a call, before the next one. */
    wrapUpSeconds: integer('wrap_up_seconds').notNull().default(10),
    /**
     * When callees may be rung, in their local time (domain/calling-window.ts): the FCC's 08:00–21:00
     * unless the campaign says otherwise, e.g. 'mon-fri 09:00-20:00; sat 10:00-16:00; holidays US'.
     */
    callingWindow: text('calling_window').notNull().default('daily 08:00-21:00'),
    /** The callee's zone when neither the contact's time_zone nor the number tells it. */
    timeZone: text('time_zone'),
    /** Attempt caps per contact (null: none): per calendar day in the callee's time, per rolling 24 h. */
    maxAttemptsPerDay: integer('max_attempts_per_day'),
    maxAttemptsPer24h: integer('max_attempts_per_24h'),
    /** The least time between two attempts of one contact. */
    minAttemptGapSeconds: integer('min_attempt_gap_seconds'),
    /** No redial within 72 h of a call the dialer abandoned (ops/abandon-ledger.ts says which). */
    abandonCooloff: boolean('abandon_cooloff').notNull().default(false),
    /**
     * How calls are paced against agents: agentless (no agent step) · preview
     * (an agent takes or skips each contact first) · progressive (one call per available agent) ·
     * power (calls_per_agent calls per available agent) · predictive (calls per agent adjusted to
     * hold the abandon rate at or below abandon_target). Without agents assigned, progressive,
     * power and predictive dial up to `lines`, as agentless does.
     */
    dialingMode: text('dialing_mode').notNull().default('progressive'),
    callsPerAgent: real('calls_per_agent').notNull().default(1),
    /** The most abandons per live answer the campaign accepts (3 %: FCC and Ofcom). */
    abandonTarget: real('abandon_target').notNull().default(0.03),
    /** idle · running · paused · stopping · stopped · completed */
    status: text('status').notNull().default('idle'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    // names compare without case or surrounding spaces ("trail " is "trail", "PROBE1" is "probe1"):
    // campaign create refuses a near-duplicate, and this holds it under races
    uniqueIndex('campaigns_name_folded_idx').on(sql`lower(btrim(${t.name}))`),
    check('campaigns_max_attempts_check', sql`${t.maxAttempts} >= 1`),
    check('campaigns_lines_check', sql`${t.lines} >= 1`),
    check('campaigns_cps_check', sql`${t.callsPerSecond} > 0`),
    check('campaigns_ring_timeout_check', sql`${t.ringTimeoutSeconds} between 15 and 600`),
    check('campaigns_max_per_day_check', sql`${t.maxAttemptsPerDay} >= 1`),
    check('campaigns_max_per_24h_check', sql`${t.maxAttemptsPer24h} >= 1`),
    check('campaigns_min_gap_check', sql`${t.minAttemptGapSeconds} >= 0`),
    check(
      'campaigns_dialing_mode_check',
      sql`${t.dialingMode} in ('agentless', 'preview', 'progressive', 'power', 'predictive')`,
    ),
    check('campaigns_calls_per_agent_check', sql`${t.callsPerAgent} >= 1 and ${t.callsPerAgent} <= 10`),
    check('campaigns_abandon_target_check', sql`${t.abandonTarget} > 0 and ${t.abandonTarget} < 1`),
    check('campaigns_machine_detection_check', sql`${t.machineDetection} in ('off', 'hangup', 'message')`),
    check(
      'campaigns_status_check',
      sql`${t.status} in ('idle', 'running', 'paused', 'stopping', 'stopped', 'completed')`,
    ),
  ],
);

/** The columns that name one attempt of one contact: call attempts and preview offers share them. */
const attemptColumns = () => ({
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  campaignName: text('campaign_name').notNull(),
  contactId: bigint('contact_id', { mode: 'number' })
    .notNull()
    .references(() => contacts.id, { onDelete: 'cascade' }),
  attemptNo: integer('attempt_no').notNull(),
});

/**
 * One row per attempt, keyed by campaign + contact + attempt number: written before Twilio is
 * asked for a call, so that a retried or crashed placing step can tell whether a call exists.
 */
export const callAttempts = pgTable(
  'call_attempts',
  {
    ...attemptColumns(),
    workflowId: text('workflow_id').notNull(),
    /** The number as dialed (E.164), or as written when it could not be parsed. */
    phoneNumber: text('phone_number').notNull(),
    callSid: text('call_sid').unique(),
    /** Whether a call was placed at Twilio (§7: only placed attempts count). */
    placed: boolean('placed').notNull().default(false),
    /** When the attempt was due (redial_time, or when it was cached for a new contact). */
    dueAt: timestamptz('due_at'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    /** When calls.create was first sent: a retry after this lists calls before creating again. */
    createRequestedAt: timestamptz('create_requested_at'),
    placedAt: timestamptz('placed_at'),
    endedAt: timestamptz('ended_at'),
    /** Set in the transaction that applied the outcome to the contact row; never twice. */
    recordedAt: timestamptz('recorded_at'),
    lastState: integer('last_state'),
    /** The raw Twilio facts the outcome was decided from (telephony.md §2). */
    facts: jsonb('facts').$type<CallFacts>(),
    /** The worker process that sent the create (its Temporal identity, pid@host). */
    workerIdentity: text('worker_identity'),
    /**
     * The number (E.164) while the attempt may have a live call: set by the statement that marks
     * the create as sent, cleared when the attempt ends. One attempt at a time holds a number,
     * across every campaign and worker (invariant 9, call_attempts_live_number_idx).
     */
    liveNumber: text('live_number'),
    /**
     * The hold is stale after this (the create plus the campaign's call timeout and a margin): a
     * row left behind by a crash or a terminated workflow does not block its number for ever.
     */
    liveUntil: timestamptz('live_until'),
  },
  (t) => [
    unique('call_attempts_key').on(t.campaignName, t.contactId, t.attemptNo),
    // invariant 9: a second attempt cannot mark its create as sent while another holds the number
    uniqueIndex('call_attempts_live_number_idx')
      .on(t.liveNumber)
      .where(sql`${t.liveNumber} is not null`),
    index('call_attempts_contact_idx').on(t.contactId),
    // the abandon ledger: a campaign's attempts by when they ended
    index('call_attempts_campaign_ended_idx').on(t.campaignName, t.endedAt),
  ],
);

export const bannedNumbers = pgTable('banned_numbers', {
  phoneNumber: text('phone_number').primaryKey(),
  reason: text('reason'),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
});

export const agents = pgTable(
  'agents',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    /** Twilio Client identity (client:alice) or a phone number in E.164. */
    endpoint: text('endpoint').notNull().unique(),
    name: text('name'),
    /** available · on-call · wrap-up · offline */
    status: text('status').notNull().default('offline'),
    /** The campaign the agent takes calls for (null: none). */
    campaignName: text('campaign_name'),
    /** The customer call the agent is bridged to (on-call). */
    currentCallSid: text('current_call_sid'),
    /** In wrap-up until then; after it the agent counts as available again. */
    wrapUpUntil: timestamptz('wrap_up_until'),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('agents_status_check', sql`${t.status} in ('available', 'on-call', 'wrap-up', 'offline')`),
    index('agents_campaign_idx').on(t.campaignName, t.status),
  ],
);

/**
 * The decision log (`dialer contacts why`): every decision the dialer made about a contact, in order:
 * cached, delayed (by the calling window or a cap, until when), skipped (and why), dialed, its
 * outcome, released, rescheduled by the CRM. `dialer contacts why <id>` and the CRM API read it.
 */
export const contactEvents = pgTable(
  'contact_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    at: timestamptz('at').notNull().defaultNow(),
    contactId: bigint('contact_id', { mode: 'number' })
      .notNull()
      .references(() => contacts.id, { onDelete: 'cascade' }),
    campaignName: text('campaign_name'),
    attemptNo: integer('attempt_no'),
    /** cached · delayed · skipped · taken (preview) · dialed · outcome · released · rescheduled */
    kind: text('kind').notNull(),
    reason: text('reason').notNull(),
    /** delayed: not before this; outcome: the next try (redial_time). */
    until: timestamptz('until'),
    details: jsonb('details').$type<Record<string, unknown>>(),
  },
  (t) => [
    index('contact_events_contact_idx').on(t.contactId, t.id),
    // an attempt is dialed once and has one outcome, however often its step is retried
    uniqueIndex('contact_events_once_idx')
      .on(t.campaignName, t.contactId, t.attemptNo, t.kind)
      .where(sql`${t.kind} in ('dialed', 'outcome')`),
    // the console's "held back, by rule": a campaign's recent delayed and skipped decisions only
    index('contact_events_held_idx')
      .on(t.campaignName, t.at)
      .where(sql`${t.kind} in ('delayed', 'skipped')`),
  ],
);

/**
 * Preview mode: a contact whose attempt is ready to dial waits here for an
 * agent, who claims it (`dialer agents next`), looks at it, and takes it (it is dialed and bridged
 * to that agent) or skips it (it goes back undialed). One row per attempt.
 */
export const previewOffers = pgTable(
  'preview_offers',
  {
    ...attemptColumns(),
    /** The contact workflow waiting for the decision. */
    workflowId: text('workflow_id').notNull(),
    offeredAt: timestamptz('offered_at').notNull().defaultNow(),
    agentId: integer('agent_id').references(() => agents.id, { onDelete: 'set null' }),
    claimedAt: timestamptz('claimed_at'),
    /** take · skip · withdrawn (the campaign paused or stopped first) */
    decision: text('decision'),
    decidedAt: timestamptz('decided_at'),
  },
  (t) => [
    unique('preview_offers_attempt').on(t.campaignName, t.contactId, t.attemptNo),
    index('preview_offers_open_idx')
      .on(t.campaignName, t.id)
      .where(sql`${t.decision} is null`),
    check('preview_offers_decision_check', sql`${t.decision} in ('take', 'skip', 'withdrawn')`),
  ],
);

export type Contact = typeof contacts.$inferSelect;
export type Campaign = typeof campaigns.$inferSelect;
export type CallAttempt = typeof callAttempts.$inferSelect;

/**
 * Twilio callbacks the webhook server has passed on (telephony §1.3): a replayed or duplicated callback
 * (same call, status and sequence number) is absorbed before any signal, so a contact workflow's
 * history cannot be grown by replaying one signed request. Rows older than two days are dropped.
 */
export const webhookCallbacks = pgTable(
  'webhook_callbacks',
  {
    callSid: text('call_sid').notNull(),
    /** The callback's kind and status: `status:completed`, `dial:no-answer` … */
    event: text('event').notNull(),
    /** Twilio's SequenceNumber, -1 when the callback has none. */
    sequenceNumber: integer('sequence_number').notNull(),
    seenAt: timestamptz('seen_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.callSid, t.event, t.sequenceNumber] }),
    index('webhook_callbacks_seen_idx').on(t.seenAt),
  ],
);

/**
 * The API's Idempotency-Key (§8, server/idempotency.ts): the first response to a POST with a
 * key, kept for 24 h, so that a CRM's retry is answered the same and writes nothing. A row without
 * a status is a request still being answered (`locked_until` lets a retry take over one whose
 * server died). `request_hash` is of the method, path and body: the same key with another request
 * is refused.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    key: text('key').primaryKey(),
    requestHash: text('request_hash').notNull(),
    /** null while the first request is being answered */
    status: integer('status'),
    contentType: text('content_type'),
    body: text('body'),
    lockedUntil: timestamptz('locked_until').notNull(),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (t) => [index('idempotency_keys_expires_idx').on(t.expiresAt)],
);
