import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Sql } from '../db/client';
import { reconcile } from '../ops/reconcile';

/** How often each worker process looks for campaigns closed behind the dialer's back. */
export const RECONCILE_INTERVAL_MS = 10_000;

/** Runs the reconciler (ops/reconcile.ts) now and then every `intervalMs` until stopped. */
export function startReconciler(o: { sql: Sql; temporal: Client; logger: Logger; intervalMs?: number }): {
  stop(): Promise<void>;
} {
  let running: Promise<void> = Promise.resolve();
  const once = async () => {
    try {
      const report = await reconcile(o.sql, o.temporal);
      for (const s of report.stopped)
        o.logger.warn(s, 'a campaign whose workflow had closed without stopping it is marked stopped');
      for (const r of report.released)
        o.logger.warn(
          { holder: r.holder, workflow: r.workflow, contacts: r.contactIds.length },
          'contacts held by a closed workflow returned',
        );
    } catch (err) {
      // Temporal or the database unreachable: the next round tries again
      o.logger.debug({ err }, 'reconciler round failed');
    }
  };
  const tick = () => {
    running = running.then(once);
  };
  tick();
  const timer = setInterval(tick, o.intervalMs ?? RECONCILE_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
