import type { Client } from '@temporalio/client';
import type { Database } from '../db/client';
import type { DialerMetrics } from '../infra/metrics';
import { callActivities } from './calls';
import { contactActivities } from './contacts';
import { previewActivities } from './preview';
import type { TwilioCalls } from './twilio-calls';

export interface Deps {
  db: Database;
  calls: TwilioCalls;
  /** For recovery: which workflows are still running. */
  temporal: Client;
  clock: () => Date;
  /** Our webhook server's address as Twilio sees it (answer and status callback URLs). */
  publicBaseUrl: string;
  /** Region for numbers the CRM wrote without a country code. */
  defaultRegion: string;
  /**
   * Pauses before each new try of a create Twilio refused with 20429 (Too Many Requests); when
   * they are used up the attempt ends as NoLine (telephony §2 row 4). Default 1 s, 2 s, 4 s.
   */
  tooManyRequestsBackoffMs?: readonly number[];
  /**
   * Told when this process reserves contacts for a campaign, before its children start: the
   * worker makes sure it serves the campaign's dialing task queue.
   */
  onCampaignActive?: (campaign: string) => Promise<void>;
  /** This worker's Temporal identity, recorded on each attempt it sends a create for. */
  workerIdentity?: string;
  /** Counters for the worker's /metrics (absent: nothing is counted). */
  metrics?: DialerMetrics;
}

export const createActivities = (deps: Deps) => ({
  ...contactActivities(deps),
  ...callActivities(deps),
  ...previewActivities(deps),
});

export type Activities = ReturnType<typeof createActivities>;
