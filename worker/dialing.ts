import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { type NativeConnection, Worker } from '@temporalio/worker';
import type pino from 'pino';
import type { Activities } from '../activities';
import type { Database } from '../db/client';
import { campaignRates } from '../db/queries/campaigns';
import { campaignOfWorkflowId, dialTaskQueue } from '../workflows/shared';

/**
 * A campaign's calls per second, enforced across all workers: every create goes through the
 * campaign's own dialing task queue, and Temporal's server dispatches that queue's activities at
 * no more than the campaign's rate (`maxTaskQueueActivitiesPerSecond`), however many workers poll
 * it. Each worker process keeps one small activity-only worker per campaign whose workflow runs
 * on its task queue: found through Temporal's visibility every few seconds, and at once when this
 * process reserves contacts for a campaign.
 */
export interface DialingWorkersOptions {
  connection: NativeConnection;
  client: Client;
  namespace: string;
  /** The main task queue; a campaign's dialing queue is derived from it (dialTaskQueue). */
  taskQueue: string;
  /** The payload codec: placeCall's input and result are encrypted as every other payload. */
  dataConverter: DataConverter | undefined;
  db: Database;
  placeCall: Activities['placeCall'];
  logger: pino.Logger;
  /** How often to look for campaigns started elsewhere, and for changed rates. Default 2 s. */
  pollMs?: number;
  /** How long a campaign's dialing worker outlives the last sight of its workflow. Default 60 s. */
  graceMs?: number;
  /** The process's worker identity (the dialing workers share it). */
  identity?: string;
}

interface Serving {
  worker: Worker;
  running: Promise<void>;
  callsPerSecond: number;
  lastSeen: number;
}

export class DialingWorkers {
  private readonly serving = new Map<string, Serving>();
  private readonly pending = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly o: DialingWorkersOptions) {}

  /** Starts the periodic sweep; the first runs at once. */
  start(): this {
    const tick = () => {
      this.sweeping = this.sweep()
        .catch((err: unknown) => this.o.logger.warn({ err }, 'looking for running campaigns failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.o.pollMs ?? 2000);
        });
    };
    tick();
    return this;
  }

  /** Campaigns this process serves now, with their rates. */
  get campaigns(): Record<string, number> {
    return Object.fromEntries([...this.serving].map(([name, s]) => [name, s.callsPerSecond]));
  }

  /**
   * Makes sure this process serves the campaign's dialing queue (called on every reservation:
   * a campaign already served costs nothing; the sweep picks up a changed rate).
   */
  async ensure(campaign: string): Promise<void> {
    const served = this.serving.get(campaign);
    if (served) {
      served.lastSeen = Date.now();
      return;
    }
    await this.ensureAll([campaign], new Set([campaign]));
  }

  /** Serves `names` at their rates; those in `seen` count as seen running now. */
  private async ensureAll(names: string[], seen: Set<string>): Promise<void> {
    if (this.stopped || names.length === 0) return;
    const rows = await campaignRates(this.o.db.db, names);
    const now = Date.now();
    await Promise.all(
      rows.map(({ name, callsPerSecond }) => {
        const s = this.serving.get(name);
        if (s && seen.has(name)) s.lastSeen = now;
        if (s?.callsPerSecond === callsPerSecond) return;
        return this.serially(name, async () => {
          const current = this.serving.get(name);
          if (current?.callsPerSecond === callsPerSecond || this.stopped) return;
          if (current) await this.retire(name, current);
          await this.serve(name, callsPerSecond);
        });
      }),
    );
  }

  private async serve(name: string, callsPerSecond: number): Promise<void> {
    const taskQueue = dialTaskQueue(this.o.taskQueue, name);
    const worker = await Worker.create({
      connection: this.o.connection,
      namespace: this.o.namespace,
      taskQueue,
      dataConverter: this.o.dataConverter,
      activities: { placeCall: this.o.placeCall },
      maxTaskQueueActivitiesPerSecond: callsPerSecond,
      shutdownGraceTime: '30s',
      ...(this.o.identity ? { identity: this.o.identity } : {}),
    });
    const running = worker.run().catch((err: unknown) => {
      this.o.logger.error({ err, campaign: name }, 'dialing worker failed');
      this.serving.delete(name);
    });
    this.serving.set(name, { worker, running, callsPerSecond, lastSeen: Date.now() });
    this.o.logger.info({ campaign: name, taskQueue, callsPerSecond }, 'serving a campaign’s dialing queue');
  }

  private async retire(name: string, s: Serving): Promise<void> {
    this.serving.delete(name);
    if (s.worker.getState() === 'RUNNING') s.worker.shutdown();
    await s.running;
  }

  /** One change at a time per campaign. */
  private serially(name: string, fn: () => Promise<void>): Promise<void> {
    const next = (this.pending.get(name) ?? Promise.resolve()).then(fn);
    const settled = next.catch(() => undefined);
    this.pending.set(name, settled);
    void settled.then(() => {
      if (this.pending.get(name) === settled) this.pending.delete(name);
    });
    return next;
  }

  private async sweep(): Promise<void> {
    const names: string[] = [];
    const query = `WorkflowType = 'campaignWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '${this.o.taskQueue.replace(/'/g, "\\'")}'`;
    for await (const wf of this.o.client.workflow.list({ query })) {
      const name = campaignOfWorkflowId(wf.workflowId);
      if (name !== null) names.push(name);
    }
    // running campaigns, and the rates of those served (a rate changed by `campaign update`)
    const seen = new Set(names);
    await this.ensureAll([...new Set([...names, ...this.serving.keys()])], seen);
    const cutoff = Date.now() - (this.o.graceMs ?? 60_000);
    for (const [name, s] of this.serving) {
      if (!seen.has(name) && s.lastSeen < cutoff) await this.serially(name, () => this.retire(name, s));
    }
  }

  /** Stops every dialing worker; running creates finish first. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.sweeping;
    await Promise.all([...this.pending.values()]);
    await Promise.all([...this.serving].map(([name, s]) => this.retire(name, s)));
  }
}
