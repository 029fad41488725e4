/**
 * Dialing modes (docs/contract.md §2a): how many calls a campaign with agents may have in flight.
 * The campaign's calls in flight count calls bridged to agents as well as calls still ringing, so
 * every mode allows the agents' bridged calls plus ringing calls for the agents who are free:
 *
 * - progressive (and preview): one ringing call per free agent;
 * - power: `calls_per_agent` ringing calls per free agent;
 * - predictive: as many as the observed answer rate allows while the expected share of answered
 *   calls that find no free agent stays at or under half the campaign's abandon target (3 %), with
 *   agents about to come free (their call likely to end while the new one rings, or their wrap-up
 *   ending) counted in, and the target tightened when the abandons observed run above it;
 * - agentless: no agent step, `lines` only.
 *
 * Pure functions; reserveContacts feeds them from the database.
 */

export const DIALING_MODES = ['agentless', 'preview', 'progressive', 'power', 'predictive'] as const;
export type DialingMode = (typeof DIALING_MODES)[number];

export interface AgentCounts {
  /** Agents assigned to the campaign, in any status. */
  assigned: number;
  /** Available, or in a wrap-up that has ended. */
  free: number;
  onCall: number;
  /** In a wrap-up that ends within the calls' typical ring time. */
  freeSoon: number;
}

/** What the campaign's recent attempts show (predictive mode). */
export interface PacingStats {
  /** Recent attempts that reached Twilio and ended. */
  placed: number;
  /** Of those, answered by a person. */
  liveAnswers: number;
  /** Of the live answers, abandoned (see lib/abandon-ledger.ts). */
  abandons: number;
  /** Mean seconds from placing a call to its answer, over live answers. */
  meanRingSeconds: number | null;
  /** Mean seconds a bridged conversation lasted. */
  meanTalkSeconds: number | null;
}

export interface Pacing {
  mode: DialingMode;
  /** Calls in flight allowed now; null: `lines` alone decides (agentless, or no agents assigned). */
  capacity: number | null;
  /** Ringing calls per free agent this works out at (null without agents). */
  callsPerFreeAgent: number | null;
  /** predictive: the answer rate it used. */
  answerRate?: number;
}

/** Fewer recent attempts than this and predictive dials progressively (nothing to predict from). */
export const PREDICTIVE_MIN_SAMPLES = 30;
/** The share of the abandon target predictive plans to use. */
export const PREDICTIVE_PLANNED_SHARE = 0.5;
/** Predictive never rings more than this many calls per free agent. */
export const PREDICTIVE_MAX_RATIO = 5;

export function pace(
  mode: DialingMode,
  agents: AgentCounts,
  opts: { callsPerAgent: number; abandonTarget: number; stats?: PacingStats },
): Pacing {
  if (mode === 'agentless' || agents.assigned === 0) return { mode, capacity: null, callsPerFreeAgent: null };
  const { free, onCall } = agents;
  if (mode === 'progressive' || mode === 'preview') {
    return { mode, capacity: onCall + free, callsPerFreeAgent: 1 };
  }
  if (mode === 'power') {
    return {
      mode,
      capacity: onCall + Math.floor(opts.callsPerAgent * free),
      callsPerFreeAgent: opts.callsPerAgent,
    };
  }
  const s = opts.stats;
  if (!s || s.placed < PREDICTIVE_MIN_SAMPLES || s.liveAnswers === 0) {
    return { mode, capacity: onCall + free, callsPerFreeAgent: 1 };
  }
  const p = s.liveAnswers / s.placed;
  // an agent on a call is likely free before a new call is answered when calls ring long
  // compared with how long they talk
  const freedByRing =
    s.meanRingSeconds !== null && s.meanTalkSeconds !== null && s.meanTalkSeconds > 0
      ? Math.min(1, s.meanRingSeconds / s.meanTalkSeconds)
      : 0;
  const expectedFree = free + agents.freeSoon + onCall * freedByRing;
  // abandons above the target tighten it in proportion (feedback on what the model missed)
  const observed = s.abandons / s.liveAnswers;
  const target =
    observed > opts.abandonTarget ? (opts.abandonTarget * opts.abandonTarget) / observed : opts.abandonTarget;
  const k = Math.floor(expectedFree);
  // the model plans for half the target: the other half is for what it does not see (calls
  // answered between two looks at the agents, agents slower to come free than expected)
  const ringing = Math.max(free, predictiveCalls(k, p, target * PREDICTIVE_PLANNED_SHARE));
  return {
    mode,
    capacity: onCall + ringing,
    callsPerFreeAgent: free > 0 ? ringing / free : null,
    answerRate: p,
  };
}

/**
 * The most calls n (at least k) to ring for k free agents when each is answered by a person with
 * probability p, such that the expected answered calls beyond k (abandons) are at most `target` of
 * the expected answered calls: E[(X − k)⁺] ≤ target · E[X] for X ~ Binomial(n, p).
 */
export function predictiveCalls(k: number, p: number, target: number): number {
  if (k <= 0 || p <= 0) return 0;
  if (p >= 1) return k;
  let best = k;
  for (let n = k + 1; n <= k * PREDICTIVE_MAX_RATIO; n++) {
    if (expectedOverflow(n, p, k) > target * n * p) break;
    best = n;
  }
  return best;
}

/** E[(X − k)⁺] for X ~ Binomial(n, p). */
export function expectedOverflow(n: number, p: number, k: number): number {
  // pmf by recurrence from P(X = 0), in logs so that large n does not underflow
  let logPmf = n * Math.log1p(-p);
  const ratio = Math.log(p) - Math.log1p(-p);
  let sum = 0;
  for (let x = 0; x <= n; x++) {
    if (x > 0) logPmf += Math.log((n - x + 1) / x) + ratio;
    if (x > k) sum += (x - k) * Math.exp(logPmf);
  }
  return sum;
}
