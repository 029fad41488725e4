import type { AgentBehaviour, OutcomeName } from './scenario';

/** Twilio's call statuses, plus none of its own. */
export type CallStatus =
  | 'queued'
  | 'initiated'
  | 'ringing'
  | 'in-progress'
  | 'completed'
  | 'busy'
  | 'no-answer'
  | 'failed'
  | 'canceled';

export const FINAL_STATUSES: ReadonlySet<CallStatus> = new Set([
  'completed',
  'busy',
  'no-answer',
  'failed',
  'canceled',
]);

/** The values of Twilio's StatusCallbackEvent parameter. */
export type StatusCallbackEvent = 'initiated' | 'ringing' | 'answered' | 'completed';
export const STATUS_CALLBACK_EVENTS: readonly StatusCallbackEvent[] = [
  'initiated',
  'ringing',
  'answered',
  'completed',
];

export type DialCallStatus = 'completed' | 'no-answer' | 'busy' | 'failed' | 'canceled';

/** Fault injection for status callbacks (telephony.md §3, "Options for fault tests"). */
export interface CallbackFaults {
  /** Deliver every status callback twice (same parameters, signature and idempotency token). */
  duplicate?: boolean;
  /** Hold a call's status callbacks until it ends, then deliver them newest first. */
  outOfOrder?: boolean;
  /** Deliver every status callback this many (real) milliseconds late. */
  delayMs?: number;
  /** Drop the first delivery to each callback URL: recorded as failed, never sent, not retried. */
  failFirst?: boolean;
  /** Drop every status callback for these events (e.g. ['completed'] to force a GET fallback). */
  dropEvents?: StatusCallbackEvent[];
}

/** The faults a running simulator can be given (GET / PUT /sim/faults). */
export interface SimFaults {
  /** Delay before answering a create: the client times out, but the call exists and runs. */
  createDelayMs: number;
  callbacks: CallbackFaults;
}

/** One request the simulator made to the dialer's webhooks, and what came of it. */
export interface CallbackDelivery {
  /** status: a status callback; answer: the call's Url; dial-action: a <Dial action>; redirect. */
  kind: 'status' | 'answer' | 'dial-action' | 'redirect';
  /** For status callbacks: the event it reports. */
  event?: StatusCallbackEvent;
  url: string;
  method: 'GET' | 'POST';
  params: Record<string, string>;
  /** 1, or 2 for the copy sent by the `duplicate` fault. */
  copy: number;
  at: string;
  /** The HTTP status the webhook answered with. */
  httpStatus?: number;
  /** Why no (successful) answer came: connection refused, timeout, or a dropped delivery. */
  error?: string;
  /** True when a fault dropped the delivery before it was sent. */
  dropped?: boolean;
}

export interface SimEvent {
  at: string;
  /** Seconds since the call was created, in simulated time (real time ÷ timeScale). */
  simSeconds: number;
  type: string;
  detail?: Record<string, unknown>;
}

/** The agent leg a <Dial> created. */
export interface AgentLeg {
  sid: string;
  endpoint: string;
  behaviour: AgentBehaviour;
  dialCallStatus?: DialCallStatus;
  startedAt: string;
  answeredAt?: string;
  endedAt?: string;
  durationSeconds?: number;
}

/** A call as the control API shows it (GET /sim/calls). */
export interface SimCall {
  sid: string;
  accountSid: string;
  to: string;
  from: string;
  status: CallStatus;
  outcome: OutcomeName;
  ringSeconds: number;
  talkSeconds: number;
  /** 0-based: which call to this number it was, for list outcomes. */
  attempt: number;
  answeredBy?: string;
  sipResponseCode?: number;
  durationSeconds?: number;
  /** Who or what ended it: callee, agent, api, twiml, timeout, network, error. */
  endedBy?: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  answeredAt?: string;
  /**
   * When the first <Say> began (wall clock): for a person no agent takes, the safe-harbor message,
   * which must start within 2 s of the answer (FCC 47 CFR 64.1200(a)(7)).
   */
  messageStartedAt?: string;
  endedAt: string | null;
  request: {
    url?: string;
    method: 'GET' | 'POST';
    twiml?: string;
    statusCallback?: string;
    statusCallbackMethod: 'GET' | 'POST';
    statusCallbackEvents: StatusCallbackEvent[];
    timeout: number;
    machineDetection?: 'Enable' | 'DetectMessageEnd';
  };
  callbacks: CallbackDelivery[];
  events: SimEvent[];
  legs: AgentLeg[];
}

/** A create the simulator rejected (no call exists for it). */
export interface RejectedCreate {
  at: string;
  to: string;
  from: string;
  code: number;
  httpStatus: number;
  message: string;
}
