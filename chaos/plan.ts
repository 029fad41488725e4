import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { OutcomeSpec } from '../simulator';

/** A seeded random source: the same seed gives the same contacts, outcomes and fault schedule. */
export class Rng {
  private readonly g;
  constructor(seed: number) {
    this.g = xoroshiro128plus(seed);
  }
  /** An integer in [from, to]. */
  int(from: number, to: number): number {
    return uniformInt(this.g, from, to);
  }
  /** A number in [0, 1). */
  float(): number {
    return uniformInt(this.g, 0, 2 ** 30 - 1) / 2 ** 30;
  }
  between(from: number, to: number): number {
    return from + (to - from) * this.float();
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as [K, number][];
    let x = this.float() * entries.reduce((s, [, w]) => s + w, 0);
    for (const [k, w] of entries) if ((x -= w) < 0) return k;
    return entries[entries.length - 1]![0];
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }
}

export const CRM_EDITS = ['follow-up', 'redial-now', 'reset', 'add-contacts'] as const;
export type CrmEdit = (typeof CRM_EDITS)[number];

/** A kind of fault: what it does, and how long it lasts when it lasts (drawn from this range). */
interface FaultSpec {
  what: string;
  /** ms, from–to: the pause before a restart, the cut, the late-create window. */
  lasts?: readonly [number, number];
}

/** The Temporal server a run uses: the CLI's dev server on a file, or temporal-server on PostgreSQL. */
export const ENGINES = ['dev', 'postgres'] as const;
export type ChaosEngine = (typeof ENGINES)[number];

/** The kinds of fault (faults.ts injects them, `chaos --help` lists them). */
const FAULT_SPECS = {
  'worker-kill': { what: 'kill -9 of a worker, restarted after', lasts: [500, 8000] },
  'server-kill': { what: 'kill -9 of the webhook/API server, restarted after', lasts: [200, 4000] },
  'temporal-restart': { what: 'the Temporal server stopped and started again on its state' },
  'db-cut': { what: 'every PostgreSQL connection cut for', lasts: [500, 5000] },
  'late-create': {
    what: "creates answered after the worker's Twilio request timed out, for",
    lasts: [1000, 6000],
  },
  'crm-edit': { what: `a CRM edit through the API: ${CRM_EDITS.join(', ')}` },
  'api-retry': { what: 'a CRM POST /api/contacts cut off in flight, sent again with its Idempotency-Key' },
  'temporal-kill': {
    what: 'kill -9 of temporal-server, restarted on its databases after',
    lasts: [500, 5000],
  },
  'temporal-db-cut': { what: "Temporal's own PostgreSQL connections cut for", lasts: [500, 5000] },
} as const satisfies Record<string, FaultSpec>;
export type FaultKind = keyof typeof FAULT_SPECS;

/**
 * The dev engine's kinds, in schedule order. The order and the list are part of a seed's meaning:
 * the same seed gives the same schedule as before the postgres engine existed.
 */
export const FAULT_KINDS: readonly FaultKind[] = [
  'worker-kill',
  'server-kill',
  'temporal-restart',
  'db-cut',
  'late-create',
  'crm-edit',
  'api-retry',
];

/**
 * The kinds per engine. The postgres engine keeps the graceful restart (a rolling deploy) beside
 * the kill -9 (a crash, an OOM kill: its membership rows and shard leases are left behind), and
 * adds cuts of the server's own database connections, which the dev server's file has no way to have.
 */
export const ENGINE_FAULT_KINDS: Record<ChaosEngine, readonly FaultKind[]> = {
  dev: FAULT_KINDS,
  postgres: [...FAULT_KINDS, 'temporal-kill', 'temporal-db-cut'],
};

/** One line per kind of fault, with what it does (and the engine it needs, when only one has it). */
export function describeFaultKinds(): string[] {
  return ENGINE_FAULT_KINDS.postgres.map((kind) => {
    const { what, lasts }: FaultSpec = FAULT_SPECS[kind];
    const only = FAULT_KINDS.includes(kind) ? '' : ' (--engine postgres only)';
    return `${kind.padEnd(18)}${what}${lasts ? ` ${lasts[0] / 1000}–${lasts[1] / 1000} s` : ''}${only}`;
  });
}

export interface PlannedFault {
  /** 1-based, in schedule order. */
  n: number;
  /** ms after the campaign started. */
  atMs: number;
  kind: FaultKind;
  /** worker-kill: which worker (the next live one if it is down). */
  worker?: number;
  /** How long the fault lasts: the pause before a restart, the cut, the late-create window. */
  durationMs?: number;
  crm?: CrmEdit;
  /** api-retry: the first POST is cut off this long after it was sent, then sent again with its key. */
  cutAfterMs?: number;
}

/**
 * The schedule: an equal share of each kind `among` (the remainder at random), shuffled, at gaps
 * of 0.5–1.5 × the mean gap.
 */
export function planFaults(
  rng: Rng,
  count: number,
  meanGapMs: number,
  workers: number,
  among: readonly FaultKind[] = FAULT_KINDS,
): PlannedFault[] {
  const kinds: FaultKind[] = [];
  for (let i = 0; i < count; i++) {
    kinds.push(i < count - (count % among.length) ? among[i % among.length]! : rng.pick(among));
  }
  rng.shuffle(kinds);
  let at = 0;
  return kinds.map((kind, i) => {
    at += Math.round(rng.between(0.5, 1.5) * meanGapMs);
    const f: PlannedFault = { n: i + 1, atMs: at, kind };
    const { lasts }: FaultSpec = FAULT_SPECS[kind];
    if (kind === 'worker-kill') f.worker = rng.int(0, workers - 1);
    if (lasts) f.durationMs = rng.int(...lasts);
    if (kind === 'crm-edit') f.crm = rng.pick(CRM_EDITS);
    if (kind === 'api-retry') f.cutAfterMs = rng.int(1, 60);
    return f;
  });
}

/**
 * Invariant 9 under faults: about `share` of the contacts get the number of another contact (a
 * household phone, a row the CRM wrote twice), never a number on the do-not-call list. Returns
 * how many took another's number.
 */
export function shareNumbers<T extends { phone: string; banned: boolean }>(
  rng: Rng,
  contacts: T[],
  share: number,
): number {
  const dialable = contacts.filter((c) => c.phone.startsWith('+') && !c.banned);
  let shared = 0;
  for (let i = Math.round(contacts.length * share); i > 0 && dialable.length > 1; i--) {
    const [from, to] = [rng.pick(dialable), rng.pick(dialable)];
    if (from.phone === to.phone) continue;
    to.phone = from.phone;
    shared++;
  }
  return shared;
}

/** What the simulator does for a contact's calls, weighted like a real list (most reachable). */
const OUTCOME_WEIGHTS = {
  human: 30,
  busy: 14,
  'no-answer': 14,
  machine: 6,
  fax: 2,
  unreachable: 6,
  'wrong-number': 2,
  invalid: 1,
  blocked: 1,
  reject: 5,
  incompatible: 2,
  'no-line': 3,
  error: 3,
  'human-hangs-up': 3,
} as const;

/** One to three outcomes, used call by call (the last repeats), with ring and talk seconds. */
export function planOutcomes(rng: Rng): OutcomeSpec[] {
  return Array.from({ length: rng.int(1, 3) }, () => ({
    outcome: rng.weighted(OUTCOME_WEIGHTS),
    ringSeconds: rng.int(1, 8),
    talkSeconds: rng.int(2, 20),
  }));
}

export interface PlannedContact {
  phone: string;
  banned: boolean;
}

/** Unique numbers in +1500 (Twilio's test range; shareNumbers makes some shared); about 3 % on the do-not-call list, 1 % unparsable. */
export function makeContacts(rng: Rng, n: number, taken = new Set<string>()): PlannedContact[] {
  const out: PlannedContact[] = [];
  while (out.length < n) {
    const unparsable = rng.float() < 0.01;
    const phone = unparsable
      ? `00-${rng.int(100, 999)}`
      : `+1500${String(rng.int(0, 9_999_999)).padStart(7, '0')}`;
    if (taken.has(phone)) continue;
    taken.add(phone);
    out.push({ phone, banned: !unparsable && rng.float() < 0.03 });
  }
  return out;
}
