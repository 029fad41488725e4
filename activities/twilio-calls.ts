import twilio from 'twilio';
import type { TwilioClient } from '../infra/twilio';

/** The narrow part of the Twilio SDK the dialer uses; tests and activities depend on this. */
export interface CreateCallParams {
  to: string;
  from: string;
  url: string;
  statusCallback: string;
  statusCallbackEvent: string[];
  timeout: number;
  machineDetection?: 'Enable' | 'DetectMessageEnd';
}

export interface CallInfo {
  sid: string;
  status: string;
  dateCreated: Date | null;
  durationSeconds: number | null;
  answeredBy: string | null;
}

export interface TwilioCalls {
  create(params: CreateCallParams): Promise<CallInfo>;
  fetch(sid: string): Promise<CallInfo>;
  /** Calls with this to/from, newest first (Twilio's order), at most `limit`. */
  list(params: { to: string; from: string; limit: number }): Promise<CallInfo[]>;
  hangup(sid: string): Promise<CallInfo>;
}

/** A create that Twilio answered with an error: the call certainly does not exist. */
export class CreateRejected extends Error {
  override name = 'CreateRejected';
  constructor(
    message: string,
    readonly code: number | null,
    readonly status: number | null,
  ) {
    super(message);
  }
}

type SdkCall = {
  sid: string;
  status: string;
  dateCreated: Date | null;
  duration: string | null;
  answeredBy: string | null;
};

const info = (c: SdkCall): CallInfo => ({
  sid: c.sid,
  status: c.status,
  dateCreated: c.dateCreated ?? null,
  durationSeconds: c.duration == null ? null : Number(c.duration),
  answeredBy: c.answeredBy ?? null,
});

export function twilioCalls(client: TwilioClient): TwilioCalls {
  return {
    async create(p) {
      try {
        const call = await client.calls.create({
          to: p.to,
          from: p.from,
          url: p.url,
          method: 'POST',
          statusCallback: p.statusCallback,
          statusCallbackMethod: 'POST',
          statusCallbackEvent: p.statusCallbackEvent,
          timeout: p.timeout,
          ...(p.machineDetection ? { machineDetection: p.machineDetection } : {}),
        });
        return info(call);
      } catch (err) {
        // A RestException is Twilio's own answer; anything else (timeout, reset) leaves the
        // create's outcome unknown and must be retried through list-before-create.
        if (err instanceof twilio.RestException) {
          throw new CreateRejected(err.message, err.code ?? null, err.status ?? null);
        }
        throw err;
      }
    },
    async fetch(sid) {
      return info(await client.calls(sid).fetch());
    },
    async list({ to, from, limit }) {
      const calls = await client.calls.list({ to, from, limit });
      return calls.map(info);
    },
    async hangup(sid) {
      return info(await client.calls(sid).update({ status: 'completed' }));
    },
  };
}
