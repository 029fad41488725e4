/**
 * The shapes of the workflows' inputs and messages, checked before any code reads them. The
 * Temporal UI lets anyone start a workflow or send any signal or update with any JSON: a bad
 * start fails at once with one line, a bad update is rejected by its validator, and a bad signal
 * is logged and ignored. None of them may fail a workflow task (it would fail again on every
 * retry, for ever).
 */
import { ApplicationFailure, type SignalDefinition, log, setHandler } from '@temporalio/workflow';

/** A problem with the value at `path`, in words, or undefined when it is fine. */
export type Check = (value: unknown, path: string) => string | undefined;

const shown = (v: unknown) => (JSON.stringify(v) ?? 'nothing').slice(0, 40);

export const int =
  (min: number): Check =>
  (v, p) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min
      ? undefined
      : `${p} must be an integer of at least ${min}, not ${shown(v)}`;

export const text =
  (maxLength = 200): Check =>
  (v, p) =>
    typeof v === 'string' && v.trim() !== '' && v.length <= maxLength
      ? undefined
      : `${p} must be a text of 1 to ${maxLength} characters, not ${shown(v)}`;

export const bool: Check = (v, p) => (typeof v === 'boolean' ? undefined : `${p} must be true or false`);

export const oneOf =
  (...values: readonly string[]): Check =>
  (v, p) =>
    typeof v === 'string' && values.includes(v) ? undefined : `${p} must be one of ${values.join(', ')}`;

/** An ISO 8601 time with its zone. */
export const time: Check = (v, p) =>
  typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v) && !Number.isNaN(Date.parse(v))
    ? undefined
    : `${p} must be an ISO 8601 time (2026-12-01T09:30:00Z), not ${shown(v)}`;

export const nullOr =
  (c: Check): Check =>
  (v, p) =>
    v === null ? undefined : c(v, p);

export const optional =
  (c: Check): Check =>
  (v, p) =>
    v === undefined ? undefined : c(v, p);

/** An object with these fields (others are allowed: messages grow new optional fields). */
export const object =
  (fields: Record<string, Check> = {}): Check =>
  (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      return `${p} must be an object, not ${shown(v)}`;
    for (const [k, c] of Object.entries(fields)) {
      const problem = c((v as Record<string, unknown>)[k], `${p}.${k}`);
      if (problem) return problem;
    }
    return undefined;
  };

/** Handles a signal whose input is checked first: input of the wrong shape is logged and ignored. */
export function onSignal<A>(signal: SignalDefinition<[A]>, shape: Check, handler: (a: A) => void): void {
  setHandler(signal, (a: A) => {
    const problem = shape(a, signal.name);
    if (problem) log.warn(`signal ${signal.name} ignored: ${problem}`);
    else handler(a);
  });
}

/** An update's validator: input of the wrong shape is rejected, and nothing is written. */
export function updateValidator(name: string, shape: Check): (a: unknown) => void {
  return (a) => {
    const problem = shape(a, name);
    if (problem) throw new Error(`${name} rejected: ${problem}`);
  };
}

/** A workflow's input of the wrong shape fails the workflow at once, with one line. */
export function requireInput(name: string, shape: Check, input: unknown): void {
  const problem = shape(input, 'input');
  if (problem) throw ApplicationFailure.nonRetryable(`${name}: ${problem}`, 'InvalidWorkflowInput');
}

const ids = { contactId: int(1), attemptNo: int(0) };
const optionsShape = object({
  refillIntervalMs: optional(int(1)),
  callTimeoutMs: optional(int(1)),
  lookaheadMs: optional(int(0)),
  finishWhenDone: optional(bool),
  idleRefillIntervalMs: optional(int(1)),
  maxHistoryEvents: optional(int(10)),
});

/** Every input and message the workflows take, by name. */
export const SHAPES = {
  campaignInput: object({ name: text(), options: optional(optionsShape), carry: optional(object()) }),
  contactInput: object({
    campaign: text(),
    campaignWorkflowId: text(400),
    contact: object({ id: int(1), phoneNumber: text(40) }),
    attemptNo: int(1),
    dueAt: nullOr(time),
    settings: object({ name: text(), maxAttempts: int(1), callerId: text(40) }),
    callTimeoutMs: int(1),
    lineGranted: bool,
  }),
  attemptFinished: object({ ...ids, lastState: int(0), contactSuccessful: int(-1), placed: bool }),
  lineRequest: object({ ...ids, dueAt: nullOr(time) }),
  lineReturn: object({ ...ids, delayedUntil: optional(time), rule: optional(text()) }),
  releaseContact: object({ contactId: int(1), holdMs: int(0) }),
  callStatus: object({ callSid: text(64), callStatus: text(40), sequenceNumber: nullOr(int(0)) }),
  callFacts: object({ callSid: text(64), facts: object() }),
  reschedule: object({ dueAt: time }),
  lineGrant: object({ attemptNo: int(0) }),
  withdraw: object({ holdMs: int(0) }),
  previewDecision: object({ decision: oneOf('take', 'skip'), agent: text(), holdMs: optional(int(0)) }),
} satisfies Record<string, Check>;
