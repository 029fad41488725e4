/**
 * The contract's types and pure rules: the values of ContactSuccessful (§3) and LastState (§4), a
 * campaign's settings and retry rules (§7), a cached contact (§6), the call facts an outcome is
 * decided from (telephony §2), a CRM's redial (§8) and the dial order (§5). Imports nothing from
 * the project, so every layer may use it.
 */

/** ContactSuccessful, §3 */
export const ContactSuccessful = {
  Unreachable: -1,
  NotUsed: 0,
  Successful: 1,
  NoSuccess: 2,
  MarkedForDialing: 3,
} as const;
export type ContactSuccessful = (typeof ContactSuccessful)[keyof typeof ContactSuccessful];
export type ContactSuccessfulName = keyof typeof ContactSuccessful;
export function contactSuccessfulName(value: number): ContactSuccessfulName | undefined {
  return (Object.keys(ContactSuccessful) as ContactSuccessfulName[]).find(
    (n) => ContactSuccessful[n] === value,
  );
}

/** LastState, §4 */
export const LastState = {
  Connected: 0,
  Busy: 1,
  Knocking: 2,
  Unreachable: 3,
  WrongNumber: 4,
  Incompatible: 5,
  Fax: 6,
  AnsweringMachine: 7,
  NoLine: 8,
  ErrorOccurred: 9,
  NoAgent: 10,
  AgentTransfer: 11,
  AgentHangUp: 12,
  AlertingTimeout: 13,
  TransferTimeout: 14,
  Abandoned: 15,
  Rejected: 16,
  Banned: 1000,
} as const;
export type LastStateName = keyof typeof LastState;
export type LastState = (typeof LastState)[LastStateName];

export const lastStateNames = Object.keys(LastState) as LastStateName[];
export function lastStateName(value: number): LastStateName | undefined {
  return lastStateNames.find((n) => LastState[n] === value);
}

/**
 * Per-campaign retry rules (§7): the delay before the next try per LastState, a default delay,
 * and the LastStates that end a contact as Unreachable (-1). WrongNumber and Banned are always
 * final; Connected and AgentHangUp are always Successful.
 */
export interface RetryRules {
  defaultDelaySeconds: number;
  delaySeconds: Partial<Record<LastStateName, number>>;
  final: LastStateName[];
}

export const DEFAULT_RETRY_RULES: RetryRules = {
  defaultDelaySeconds: 15 * 60,
  delaySeconds: {
    Busy: 5 * 60,
    AlertingTimeout: 30 * 60,
    AnsweringMachine: 2 * 60 * 60,
    NoAgent: 60 * 60,
    Abandoned: 60 * 60,
  },
  final: ['WrongNumber', 'Banned'],
};

/** A campaign's settings as the workflows see them (loaded from the campaigns table). */
export interface CampaignSettings {
  name: string;
  maxAttempts: number;
  lines: number;
  callsPerSecond: number;
  callerId: string;
  ringTimeoutSeconds: number;
  retryRules: RetryRules;
  /** Answering-machine detection (telephony §1.4). */
  machineDetection: MachineDetection;
  /** agentless · preview · progressive · power · predictive. */
  dialingMode: string;
}

export type MachineDetection = 'off' | 'hangup' | 'message';

/** A contact as it was taken into the cache: dialed with this data even if its row changes (§6). */
export interface CachedContact {
  id: number;
  phoneNumber: string;
  /**
   * What the Temporal UI shows in the contact workflow's memo: its number masked (search
   * attributes and memos never carry a full phone number or a name).
   */
  display?: { phone: string };
  redialAt: string | null;
  /** number_of_contacts when cached. */
  numberOfContacts: number;
  /**
   * This attempt's number: number_of_contacts + 1, or one more than the last attempt recorded
   * for the contact in this campaign if that is higher. A CRM may lower number_of_contacts to
   * reuse a contact (§8), and the attempt key (campaign, contact, attempt number) must never repeat.
   */
  attemptNo: number;
  cachedFrom: number;
}

/** The Twilio facts an outcome is decided from (telephony §2), stored on the attempt. */
export interface CallFacts {
  /** The number could not be parsed into E.164. */
  unparsable?: boolean;
  /** The number is on our banned / do-not-call list. */
  banned?: boolean;
  /** calls.create was rejected by Twilio. */
  createError?: { code: number | null; status: number | null; message: string };
  callSid?: string;
  callStatus?: string;
  sipResponseCode?: number;
  answeredBy?: string;
  /** From the <Dial> action request. */
  dialCallStatus?: string;
  /** The agent's leg ended first (bridged call). */
  agentHungUpFirst?: boolean;
  /** A person answered but no agent was free (the safe-harbor message was played). */
  noAgentFree?: boolean;
  /** The call went through the agent step (the answer TwiML dialled an agent). */
  agentStep?: boolean;
  /** The callee was gone when the <Dial> to the agent ended unbridged (hung up while waiting). */
  calleeLeftFirst?: boolean;
  callDurationSeconds?: number;
  /** No final status could be had from callbacks or from Twilio. */
  unresolved?: boolean;
  /**
   * Not dialed because the calling window or a cap held it back and the attempt could not wait
   * (the window never opens, or a workflow from before windows): tried again at retryAt.
   */
  notDialed?: { rule: string; reason: string; retryAt: string };
}

export interface RedialRequest {
  contactId: number;
  /** ISO 8601 with a zone. */
  at: string;
}

/** A redial later than this is a typing mistake, not a plan. */
const LATEST_REDIAL = Date.parse('2200-01-01T00:00:00Z');

/**
 * Checks a redial request as it arrives from the CRM, a script or the Temporal UI: a positive
 * integer contact id and an ISO 8601 time with a zone. Returns the request, or what is wrong.
 */
export function checkRedialRequest(input: unknown): RedialRequest | string {
  if (typeof input !== 'object' || input === null) return 'expected {"contactId": <id>, "at": "<ISO time>"}';
  const { contactId, at } = input as Record<string, unknown>;
  const shown = (v: unknown) => (JSON.stringify(v) ?? 'nothing').slice(0, 40);
  if (typeof contactId !== 'number' || !Number.isSafeInteger(contactId) || contactId <= 0)
    return `contactId must be a positive integer, not ${shown(contactId)}`;
  if (
    typeof at !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(at)
  )
    return `at must be an ISO 8601 time with a zone (2026-12-01T09:30:00Z), not ${shown(at)}`;
  const t = Date.parse(at);
  if (Number.isNaN(t) || t > LATEST_REDIAL || !realDay(at)) return `at is not a real time: ${at}`;
  return { contactId, at: new Date(t).toISOString() };
}

/** Whether the date part names a day that exists (Date rolls 2026-02-30 over to March 2). */
function realDay(at: string): boolean {
  const [y, m, d] = at.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

/** §5: 0 = a redial that is due, 1 = a new contact, 2 = a redial not due yet. */
export function dialTier(redialAt: string | null, nowIso: string): 0 | 1 | 2 {
  if (redialAt === null) return 1;
  return redialAt <= nowIso ? 0 : 2;
}

/**
 * §5 order at `now`: due redials oldest redial_time first, then new contacts in insertion (id)
 * order, then redials that are not due yet (they never hold up new contacts).
 */
export function dialOrder(now: number): (a: CachedContact, b: CachedContact) => number {
  const nowIso = new Date(now).toISOString();
  return (a, b) => {
    const ta = dialTier(a.redialAt, nowIso);
    const tb = dialTier(b.redialAt, nowIso);
    if (ta !== tb) return ta - tb;
    if (a.redialAt !== b.redialAt && a.redialAt !== null && b.redialAt !== null)
      return a.redialAt < b.redialAt ? -1 : 1;
    return a.id - b.id;
  };
}
