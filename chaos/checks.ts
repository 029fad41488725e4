/**
 * The checks a fault-injection run ends with: the contract's invariants (docs/contract.md §9)
 * and the telephony promises (telephony.md §1–2), decided from three independent records: the
 * contacts table, call_attempts, and the simulator's own list of calls and refused creates.
 * A pure function of those records, so a test can hand it a broken record and see it caught.
 */
import type { RejectedCreate, SimCall } from '../simulator';
import type { CallAttempt } from '../db/queries/call-attempts';
import type { Contact } from '../db/queries/contacts';
import { mapOutcome } from '../domain/outcome';
import { type CallFacts, ContactSuccessful, LastState } from '../domain/contract';

/** What the checks read of a contact's row (db/queries/contacts.ts contactsOfCampaign). */
export type ContactRecord = Pick<
  Contact,
  'id' | 'phoneNumber' | 'contactSuccessful' | 'lastState' | 'redialTime' | 'numberOfContacts'
>;

/** What the checks read of an attempt's row (db/queries/call-attempts.ts attemptsOfCampaign). */
export type AttemptRecord = Pick<
  CallAttempt,
  | 'contactId'
  | 'attemptNo'
  | 'phoneNumber'
  | 'callSid'
  | 'placed'
  | 'dueAt'
  | 'createdAt'
  | 'createRequestedAt'
  | 'recordedAt'
  | 'lastState'
  | 'facts'
>;

/**
 * What the checks read of a call the simulator saw: its record without the callbacks, events and
 * request (a 100,000-contact run's calls would not fit twice in memory with them).
 */
export type CallRecord = Pick<
  SimCall,
  'sid' | 'to' | 'from' | 'status' | 'createdAt' | 'endedAt' | 'sipResponseCode' | 'answeredBy' | 'endedBy'
> & { legs: Pick<SimCall['legs'][number], 'dialCallStatus'>[] };

/** The part of a simulator record the checks read. */
export function callRecord(c: Readonly<SimCall>): CallRecord {
  return {
    sid: c.sid,
    to: c.to,
    from: c.from,
    status: c.status,
    createdAt: c.createdAt,
    endedAt: c.endedAt,
    ...(c.sipResponseCode !== undefined ? { sipResponseCode: c.sipResponseCode } : {}),
    ...(c.answeredBy !== undefined ? { answeredBy: c.answeredBy } : {}),
    ...(c.endedBy !== undefined ? { endedBy: c.endedBy } : {}),
    legs: c.legs.map((l) => (l.dialCallStatus ? { dialCallStatus: l.dialCallStatus } : {})),
  };
}

export interface RunRecords {
  maxAttempts: number;
  /** LastStates that end a contact as Unreachable (-1) in this campaign. */
  finalStates: number[];
  contacts: ContactRecord[];
  attempts: AttemptRecord[];
  /** GET /sim/calls, restricted to the campaign's caller id. */
  calls: CallRecord[];
  rejections: RejectedCreate[];
  /** Numbers on the do-not-call list during the whole run. */
  banned: Set<string>;
  /** When the CRM reset a contact (attempts back to 0), per contact. */
  resets: Map<number, Date[]>;
  /** POST /api/contacts requests cut off and sent again with their Idempotency-Key (absent: none). */
  retriedPosts?: RetriedPost[];
}

export interface RetriedPost {
  /** The numbers the request added (each new to the campaign). */
  numbers: string[];
  /** The last answer (0: none). */
  status: number;
}

export const INVARIANTS = {
  'left-at-3': 'no contact is left at 3 after the campaign stopped (§9.3)',
  'state-allowed': 'every contact is in a state the contract allows (§3, §7)',
  lost: 'no contact is left undialed while it is still eligible (§9.8)',
  'attempt-unrecorded': 'every attempt has its outcome recorded (§7)',
  'attempts-counted': 'number_of_contacts equals the placed attempts (§9.2)',
  'calls-match-attempts': 'the simulator saw exactly the calls the placed attempts name (§9.2, telephony §1)',
  'two-calls-one-attempt': 'no attempt placed two calls (§9.8, telephony §1)',
  'overlapping-calls': 'no contact was in two calls at the same time (§9.1)',
  'number-overlap': 'no number was in two calls at the same time, whichever contacts have it (§9.9)',
  'banned-called': 'no banned number was sent to Twilio (§9.4)',
  'over-max-attempts': 'no contact was dialed at or over max_attempts (§9.5)',
  'early-redial': 'no redial was dialed before its redial_time (§9.7)',
  'outcome-mismatch': "every attempt's LastState is what the mapping gives for the call (telephony §2)",
  'api-retry-written-twice':
    'a CRM POST sent again with its Idempotency-Key after a timeout was answered 201 and wrote its contacts once (§9.10)',
} as const;
export type Invariant = keyof typeof INVARIANTS;

export interface Violation {
  invariant: Invariant;
  contactId: number | null;
  detail: string;
}

/** What the simulator recorded for a call, as the facts the outcome mapping reads. */
export function factsFromSimulator(call: CallRecord): CallFacts {
  const leg = call.legs.at(-1);
  return {
    callSid: call.sid,
    callStatus: call.status,
    ...(call.sipResponseCode !== undefined ? { sipResponseCode: call.sipResponseCode } : {}),
    ...(call.answeredBy !== undefined ? { answeredBy: call.answeredBy } : {}),
    ...(leg
      ? { agentStep: true, ...(leg.dialCallStatus ? { dialCallStatus: leg.dialCallStatus } : {}) }
      : {}),
    ...(call.endedBy === 'agent' ? { agentHungUpFirst: true } : {}),
  };
}

const ms = (d: Date | string) => new Date(d).getTime();

/** Records a violation; every check reports through one. */
type Report = (invariant: Invariant, contactId: number | null, detail: string) => void;

/** The three records, indexed the ways the checks look them up. */
interface Indexed {
  attemptsOf: Map<number, AttemptRecord[]>;
  callsTo: Map<string, CallRecord[]>;
  callBySid: Map<string, CallRecord>;
  placedSids: Set<string>;
  contactByNumber: Map<string, number>;
  rejectionsTo: Map<string, RejectedCreate[]>;
}

function indexRecords(r: RunRecords): Indexed {
  const placedSids = new Set<string>();
  for (const a of r.attempts) {
    if (a.callSid) placedSids.add(a.callSid);
  }
  return {
    attemptsOf: groupBy(r.attempts, (a) => a.contactId),
    callsTo: groupBy(r.calls, (c) => c.to),
    callBySid: new Map(r.calls.map((c) => [c.sid, c])),
    placedSids,
    rejectionsTo: groupBy(r.rejections, (x) => x.to),
    // a contact without a number is never called
    contactByNumber: new Map(
      r.contacts.flatMap((c) => (c.phoneNumber === null ? [] : [[c.phoneNumber, c.id] as const])),
    ),
  };
}

/**
 * `seen.decidedWithoutSipCode` collects the contacts whose attempt was decided from a fetched call
 * without its SIP code (all its callbacks lost): allowed, and counted in the report.
 */
export function checkRun(r: RunRecords, seen = { decidedWithoutSipCode: [] as number[] }): Violation[] {
  const out: Violation[] = [];
  const add: Report = (invariant, contactId, detail) => out.push({ invariant, contactId, detail });
  const idx = indexRecords(r);
  for (const c of r.contacts) {
    const attempts = (idx.attemptsOf.get(c.id) ?? []).sort((a, b) => a.attemptNo - b.attemptNo);
    const resets = (r.resets.get(c.id) ?? []).map(ms);
    checkRow(r, c, attempts, resets, add);
    checkAttempts(r, c, attempts, resets, idx, add, seen);
  }
  // the simulator's side: every call belongs to exactly one placed attempt, and the other way round
  checkSimulatorCalls(r, idx, add);
  checkPlacedAttempts(r, idx, add);
  checkNumbers(r, idx.callsTo, idx.contactByNumber, add);
  checkRetriedPosts(r, add);
  checkContactOverlaps(r, idx, add);
  return out;
}

/** The row itself: its state is one the contract allows, and its count is its placed attempts. */
function checkRow(r: RunRecords, c: ContactRecord, attempts: AttemptRecord[], resets: number[], add: Report) {
  const lastReset = resets.length ? Math.max(...resets) : -Infinity;
  const placedSinceReset = attempts.filter((a) => a.placed && ms(a.createdAt) > lastReset).length;
  checkState(r, c, add);
  if (
    (c.contactSuccessful === ContactSuccessful.NotUsed ||
      c.contactSuccessful === ContactSuccessful.NoSuccess) &&
    c.numberOfContacts < r.maxAttempts
  ) {
    add(
      'lost',
      c.id,
      `left at ${c.contactSuccessful} with ${c.numberOfContacts} of ${r.maxAttempts} attempts`,
    );
  }
  if (c.numberOfContacts !== placedSinceReset) {
    add(
      'attempts-counted',
      c.id,
      `number_of_contacts ${c.numberOfContacts}, placed attempts ${placedSinceReset}`,
    );
  }
}

/** §3, §7, §9.3: the values a stopped campaign may leave in contact_successful and last_state. */
function checkState(r: RunRecords, c: ContactRecord, add: Report) {
  if (c.contactSuccessful === ContactSuccessful.MarkedForDialing) add('left-at-3', c.id, 'still at 3');
  else if (![-1, 0, 1, 2].includes(c.contactSuccessful)) {
    add('state-allowed', c.id, `contact_successful ${c.contactSuccessful}`);
  } else if (
    c.contactSuccessful === ContactSuccessful.Successful &&
    c.lastState !== LastState.Connected &&
    c.lastState !== LastState.AgentHangUp
  ) {
    add('state-allowed', c.id, `Successful with last_state ${c.lastState}`);
  } else if (c.contactSuccessful === ContactSuccessful.NoSuccess && c.redialTime === null) {
    add('state-allowed', c.id, 'NoSuccess without a redial_time');
  } else if (
    c.contactSuccessful === ContactSuccessful.Unreachable &&
    !r.finalStates.includes(c.lastState ?? -1) &&
    c.numberOfContacts < r.maxAttempts
  ) {
    add(
      'state-allowed',
      c.id,
      `Unreachable after ${c.numberOfContacts} attempts with last_state ${c.lastState}`,
    );
  }
}

/**
 * Each attempt of a contact, in order: recorded, under max_attempts (counted again from a reset),
 * not dialed before it was due, and with the LastState its call gives.
 */
function checkAttempts(
  r: RunRecords,
  c: ContactRecord,
  attempts: AttemptRecord[],
  resets: number[],
  idx: Indexed,
  add: Report,
  seen: { decidedWithoutSipCode: number[] },
) {
  const { callBySid } = idx;
  let placedBefore = 0;
  let segmentStart = -Infinity;
  for (const a of attempts) {
    const reset = resets.filter((t) => t < ms(a.createdAt) && t > segmentStart);
    if (reset.length) {
      placedBefore = 0;
      segmentStart = Math.max(...reset);
    }
    const where = `attempt ${a.attemptNo}`;
    if (a.recordedAt === null || a.lastState === null)
      add('attempt-unrecorded', c.id, `${where} has no outcome`);
    if (placedBefore >= r.maxAttempts) {
      add('over-max-attempts', c.id, `${where} after ${placedBefore} placed of ${r.maxAttempts}`);
    }
    if (a.placed) placedBefore++;
    const dialedAt = a.createRequestedAt ?? (a.callSid ? callBySid.get(a.callSid)?.createdAt : undefined);
    if (a.dueAt && dialedAt && ms(dialedAt) < ms(a.dueAt)) {
      add('early-redial', c.id, `${where} dialed ${ms(a.dueAt) - ms(dialedAt)} ms before it was due`);
    }
    if (a.lastState !== null)
      checkOutcome(
        idx,
        a,
        (d) => add('outcome-mismatch', c.id, `${where}: ${d}`),
        () => seen.decidedWithoutSipCode.push(c.id),
      );
  }
}

/** Every call the simulator saw names a placed attempt; no call or create went to a banned number. */
function checkSimulatorCalls(r: RunRecords, idx: Indexed, add: Report) {
  for (const call of r.calls) {
    const contactId = idx.contactByNumber.get(call.to) ?? null;
    if (!idx.placedSids.has(call.sid)) {
      add('two-calls-one-attempt', contactId, `call ${call.sid} to ${call.to} belongs to no attempt`);
    }
    if (r.banned.has(call.to)) add('banned-called', contactId, `call ${call.sid} to banned ${call.to}`);
  }
  for (const rej of r.rejections) {
    if (r.banned.has(rej.to)) {
      add(
        'banned-called',
        idx.contactByNumber.get(rej.to) ?? null,
        `create to banned ${rej.to} (refused ${rej.code})`,
      );
    }
  }
}

/** Every placed attempt names a call the simulator saw, and per number the counts agree. */
function checkPlacedAttempts(r: RunRecords, idx: Indexed, add: Report) {
  for (const a of r.attempts) {
    if (a.placed && (!a.callSid || !idx.callBySid.has(a.callSid))) {
      add(
        'calls-match-attempts',
        a.contactId,
        `attempt ${a.attemptNo} names ${a.callSid}, which the simulator never saw`,
      );
    }
  }
  // per number (a CRM may have put one number on two contacts): calls = placed attempts
  const contactsOf = groupBy(r.contacts, (c) => c.phoneNumber);
  for (const [number, owners] of contactsOf) {
    const calls = (number !== null && idx.callsTo.get(number)) || [];
    const placed = owners.reduce(
      (n, c) => n + (idx.attemptsOf.get(c.id) ?? []).filter((a) => a.placed).length,
      0,
    );
    if (calls.length !== placed) {
      for (const c of owners) {
        add(
          'calls-match-attempts',
          c.id,
          `${calls.length} calls to ${number} at the simulator, ${placed} placed attempts`,
        );
      }
    }
  }
}

/** Per contact: its calls, found by its attempts' SIDs, never overlap (§9.1). */
function checkContactOverlaps(r: RunRecords, idx: Indexed, add: Report) {
  for (const c of r.contacts) {
    const calls = (idx.attemptsOf.get(c.id) ?? [])
      .map((a) => (a.callSid ? idx.callBySid.get(a.callSid) : undefined))
      .filter((x): x is CallRecord => x !== undefined)
      .sort((a, b) => ms(a.createdAt) - ms(b.createdAt));
    for (let i = 1; i < calls.length; i++) {
      const prev = calls[i - 1]!;
      const prevEnd = prev.endedAt ? ms(prev.endedAt) : Infinity;
      if (ms(calls[i]!.createdAt) < prevEnd) {
        add('overlapping-calls', c.id, `call ${calls[i]!.sid} started while ${prev.sid} was live`);
      }
    }
  }
}

/**
 * Invariant 9: the calls to one number never overlap, whichever contacts (of whichever campaigns)
 * have it. Two calls of one contact are the per-contact check's (overlapping-calls); a call that
 * belongs to no attempt counts as another contact's.
 */
function checkNumbers(
  r: RunRecords,
  callsTo: Map<string, CallRecord[]>,
  contactByNumber: Map<string, number>,
  add: Report,
): void {
  const ownerOf = new Map(r.attempts.flatMap((a) => (a.callSid ? [[a.callSid, a.contactId] as const] : [])));
  const end = (c: CallRecord) => (c.endedAt ? ms(c.endedAt) : Infinity);
  for (const [number, calls] of callsTo) {
    let live: CallRecord | undefined; // of the calls so far, the one that ends last
    for (const call of [...calls].sort((a, b) => ms(a.createdAt) - ms(b.createdAt))) {
      if (live && ms(call.createdAt) < end(live)) {
        const [was, is] = [ownerOf.get(live.sid), ownerOf.get(call.sid)];
        if (was === undefined || was !== is) {
          add(
            'number-overlap',
            is ?? contactByNumber.get(number) ?? null,
            `call ${call.sid} (contact ${is ?? '?'}) to ${number} started while ${live.sid} (contact ${was ?? '?'}) was live`,
          );
        }
      }
      if (!live || end(call) > end(live)) live = call;
    }
  }
}

/** §9.10: a CRM that retries with its Idempotency-Key gets its answer, and nothing twice. */
function checkRetriedPosts(r: RunRecords, add: Report): void {
  const contactsOf = groupBy(r.contacts, (c) => c.phoneNumber);
  for (const post of r.retriedPosts ?? []) {
    if (post.status !== 201) {
      add('api-retry-written-twice', null, `a retried POST ended with ${post.status}, not 201`);
    }
    for (const number of post.numbers) {
      const rows = contactsOf.get(number) ?? [];
      if (rows.length !== 1) {
        add(
          'api-retry-written-twice',
          rows[0]?.id ?? null,
          `${rows.length} contacts with ${number}, posted once (retried with its key)`,
        );
      }
    }
  }
}

function checkOutcome(
  idx: Indexed,
  a: AttemptRecord,
  fail: (detail: string) => void,
  withoutSip: () => void,
): void {
  const call = a.callSid ? idx.callBySid.get(a.callSid) : undefined;
  if (call) {
    const facts = factsFromSimulator(call);
    const want = mapOutcome(facts);
    if (want === a.lastState) return;
    // Every callback of the call was lost (the webhook server was down) and the dialer fetched
    // the call: Twilio's Call resource has no SIP code, so the status alone decided.
    const { sipResponseCode: _sip, ...fetched } = facts;
    if (a.facts?.sipResponseCode === undefined && mapOutcome(fetched) === a.lastState) {
      withoutSip();
      return;
    }
    fail(`LastState ${a.lastState}, the simulator's call ${call.sid} gives ${want}`);
    return;
  }
  if (a.placed) return; // reported as calls-match-attempts
  // not placed: banned or unparsable before any request, or a create Twilio refused
  if (a.facts?.banned || a.facts?.unparsable) {
    const want = mapOutcome({ banned: a.facts.banned, unparsable: a.facts.unparsable });
    if (want !== a.lastState)
      fail(`LastState ${a.lastState} for a number refused before the create (${want})`);
    return;
  }
  const refused = idx.rejectionsTo.get(a.phoneNumber) ?? [];
  const explained = refused.some(
    (x) =>
      mapOutcome({ createError: { code: x.code, status: x.httpStatus, message: x.message } }) === a.lastState,
  );
  if (!explained) {
    fail(
      `LastState ${a.lastState} without a call, and no refused create to ${a.phoneNumber} explains it` +
        (refused.length ? ` (refused: ${refused.map((x) => x.code).join(', ')})` : ''),
    );
  }
}

function groupBy<T, K>(xs: T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const x of xs) {
    const group = m.get(key(x));
    if (group) group.push(x);
    else m.set(key(x), [x]);
  }
  return m;
}

/** Counts per invariant (every invariant present, 0 when held) and the contacts involved. */
export function summarise(violations: Violation[]): {
  counts: Record<Invariant, number>;
  contacts: Partial<Record<Invariant, number[]>>;
} {
  const counts = Object.fromEntries(Object.keys(INVARIANTS).map((k) => [k, 0])) as Record<Invariant, number>;
  const ids: Partial<Record<Invariant, Set<number>>> = {};
  for (const v of violations) {
    counts[v.invariant]++;
    if (v.contactId !== null) (ids[v.invariant] ??= new Set()).add(v.contactId);
  }
  const contacts = Object.fromEntries(Object.entries(ids).map(([k, set]) => [k, [...set]]));
  return { counts, contacts };
}
