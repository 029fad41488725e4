/**
 * §8: contacts the CRM adds or changes by SQL alone reach a running campaign within about a
 * second, without a restart. The contacts trigger (migration 0010) notifies
 * `dialer_contacts_changed` with the campaign's name; each worker process listens and signals that
 * campaign to refill, which makes it look at the table within ~250 ms. The periodic refill
 * (`refillIntervalMs`) stays as the safety net.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type pino from 'pino';
import { type Sql, connectListener } from '../db/client';
import { runningCampaignNames } from '../db/queries/campaigns';
import {
  campaignsWithContactsChangedSince,
  databaseNow,
  listenForContactChanges,
} from '../db/queries/contacts';
import { campaignWorkflowId, refillSignal } from '../workflows/shared';

export const CONTACTS_CHANGED_CHANNEL = 'dialer_contacts_changed';

/**
 * Notifications for one campaign within this window become one trailing refill: a CRM writing
 * rows one by one costs the campaign at most five refills a second, and the first is never held.
 */
export const REFILL_THROTTLE_MS = 200;

/** How often the embedded database is polled for changed contacts (it cannot notify; see below). */
export const EMBEDDED_POLL_MS = 1000;

/**
 * Per key, the first push fires at once; further pushes within `windowMs` are merged into one
 * trailing fire at the window's end, which opens the next window.
 */
export class Throttle {
  private readonly windows = new Map<string, { again: boolean; timer: NodeJS.Timeout }>();

  constructor(
    private readonly fire: (key: string) => void,
    private readonly windowMs = REFILL_THROTTLE_MS,
  ) {}

  push(key: string): void {
    const open = this.windows.get(key);
    if (open) {
      open.again = true;
      return;
    }
    this.fire(key);
    const window = {
      again: false,
      timer: setTimeout(() => {
        this.windows.delete(key);
        if (window.again) this.push(key);
      }, this.windowMs),
    };
    window.timer.unref();
    this.windows.set(key, window);
  }

  /** Drops the trailing fires still pending. */
  stop(): void {
    for (const w of this.windows.values()) clearTimeout(w.timer);
    this.windows.clear();
  }
}

/** Signals `refill` to a campaign's workflow; one that is not running has nothing to refill: no error. */
export async function signalRefill(client: Client, campaign: string, logger: pino.Logger): Promise<void> {
  try {
    await client.workflow.getHandle(campaignWorkflowId(campaign)).signal(refillSignal);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      logger.debug({ campaign }, 'contacts changed for a campaign that is not running');
    } else logger.warn({ err, campaign }, 'could not tell the campaign that its contacts changed');
  }
}

export interface ContactChangesOptions {
  /** The database to listen on; the listener opens connections of its own. */
  databaseUrl: string;
  temporal: Client;
  logger: pino.Logger;
  /**
   * `listen`: LISTEN for the trigger's notifications (PostgreSQL). `poll`: look for rows changed
   * since the last look every EMBEDDED_POLL_MS (the embedded PGlite, whose single session cannot
   * deliver one connection's notifications to another).
   */
  mode?: 'listen' | 'poll';
  throttleMs?: number;
  /**
   * Whether this worker signals a campaign (default: every one). createWorker answers for the
   * campaigns whose workflows run on its task queue: workers of another task queue on the same
   * database (another deployment, another test's stack) leave a campaign to its own workers.
   */
  serves?: (campaign: string) => boolean | Promise<boolean>;
}

/** Whether the campaign's workflow is running on `taskQueue` (one describe call). */
export async function runsOnTaskQueue(client: Client, campaign: string, taskQueue: string): Promise<boolean> {
  try {
    const d = await client.workflow.getHandle(campaignWorkflowId(campaign)).describe();
    return d.status.name === 'RUNNING' && d.taskQueue === taskQueue;
  } catch {
    return false; // not found, or Temporal not answering: the periodic refill remains
  }
}

/**
 * One per worker process. postgres.js re-issues LISTEN itself after a lost connection, with its
 * reconnect backoff, and calls `onlisten` again each time: every (re)connect refills every running
 * campaign once, so that an edit made while the listener was cut off is not left to the periodic
 * refill.
 */
export class ContactChangeListener {
  private readonly sql: Sql;
  private readonly throttle: Throttle;
  private pollTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** How many times LISTEN took effect (the first time and after each reconnect). */
  listens = 0;

  constructor(private readonly o: ContactChangesOptions) {
    this.sql = connectListener(o.databaseUrl);
    this.throttle = new Throttle(
      (campaign) =>
        void this.signal(campaign).catch((err: unknown) =>
          o.logger.warn({ err, campaign }, 'could not tell the campaign that its contacts changed'),
        ),
      o.throttleMs ?? REFILL_THROTTLE_MS,
    );
  }

  /** Starts listening; a database that does not answer yet is retried by the driver, not thrown. */
  async start(): Promise<void> {
    if (this.o.mode === 'poll') return this.startPolling();
    await listenForContactChanges(
      this.sql,
      CONTACTS_CHANGED_CHANNEL,
      (campaign) => this.changed(campaign),
      () => {
        this.listens++;
        void this.refillRunning();
      },
    ).catch((err: unknown) => {
      // the driver keeps trying: onlisten comes when it gets through
      this.o.logger.warn({ err }, 'cannot listen for contact changes yet; CRM edits wait for the refill');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    this.throttle.stop();
    await this.sql.end({ timeout: 2 });
  }

  /** A notification: a campaign's name, or '' for every running campaign (a name too long to send). */
  private changed(campaign: string): void {
    if (campaign === '') void this.refillRunning();
    else this.throttle.push(campaign);
  }

  private async signal(campaign: string): Promise<void> {
    if (this.stopped || !((await this.o.serves?.(campaign)) ?? true)) return;
    await signalRefill(this.o.temporal, campaign, this.o.logger);
  }

  private async refillRunning(): Promise<void> {
    try {
      for (const name of await runningCampaignNames(this.sql)) this.throttle.push(name);
    } catch (err) {
      if (!this.stopped) this.o.logger.warn({ err }, 'could not list the running campaigns to refill');
    }
  }

  /**
   * The embedded database's way: the campaigns with rows at 0 / 2 changed since the last look.
   * `since` is the database's clock, and each look goes a second back: a transaction that began
   * before the last look (now() is its start) but committed after it is still seen, and a change
   * is usually signalled twice. It also sees the workers' own outcomes, so a running campaign there
   * gets a refill a second while it dials: the price of the demo's database, not of PostgreSQL's.
   */
  private startPolling(): void {
    let since: Date | null = null;
    const look = async () => {
      try {
        const now = await databaseNow(this.sql);
        if (since) {
          for (const name of await campaignsWithContactsChangedSince(this.sql, since))
            this.throttle.push(name);
        } else void this.refillRunning();
        since = new Date(now.getTime() - EMBEDDED_POLL_MS);
      } catch (err) {
        if (!this.stopped) this.o.logger.warn({ err }, 'could not look for changed contacts');
        since = null; // after an outage: every running campaign once, as on a reconnect
      }
      if (!this.stopped) this.pollTimer = setTimeout(() => void look(), EMBEDDED_POLL_MS).unref();
    };
    void look();
  }
}
