import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Sql } from '../db/client';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CampaignLedgerCounts } from '../domain/abandon';
import { recentLedgers } from '../ops/abandon-ledger';

/**
 * The dialer's own counters, next to the Temporal SDK's metrics on one Prometheus endpoint per
 * worker process. Labels carry campaign names and outcome names, never phone numbers.
 */
export class DialerMetrics {
  readonly registry = new Registry();
  readonly callsPlaced = this.counter(
    'dialer_calls_placed_total',
    'Calls created at Twilio (one per placed attempt)',
    ['campaign'],
  );
  readonly outcomes = this.counter('dialer_attempt_outcomes_total', 'Attempts recorded, by LastState', [
    'campaign',
    'last_state',
  ]);
  readonly createRejections = this.counter(
    'dialer_create_rejections_total',
    'Creates Twilio refused, by Twilio error code (20429 is tried again)',
    ['code'],
  );
  readonly dialsDelayed = this.counter(
    'dialer_dials_delayed_total',
    'Attempts held back at the moment of dialing, by the rule (window, per-day, per-24h, min-gap, after-abandon, number-busy)',
    ['campaign', 'rule'],
  );
  readonly lateness = new Histogram({
    name: 'dialer_redial_lateness_seconds',
    help: 'How long after its redial_time a redial was sent to Twilio',
    labelNames: ['campaign'],
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  private ledgerWatched = false;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'dialer_process_' });
  }

  /** A counter on this registry (labels: campaign and outcome names, never numbers). */
  private counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /**
   * The abandon ledger of every campaign that is running, paused or stopping, or changed in the
   * last 30 days (the FCC's window outlives a run), read from the database when /metrics is scraped
   * (the same on every worker: it is the campaign's, not the process's): live answers, abandons and
   * their rate over 30 days and over 24 h.
   */
  watchAbandons(sql: Sql): void {
    if (this.ledgerWatched) return;
    this.ledgerWatched = true;
    // one query per scrape, shared by the three gauges (prom-client collects them side by side)
    let last: { at: number; ledgers: Promise<CampaignLedgerCounts[]> } | undefined;
    const ledgers = () => {
      if (!last || Date.now() - last.at > 1000) last = { at: Date.now(), ledgers: recentLedgers(sql) };
      return last.ledgers;
    };
    const gauge = (
      name: string,
      help: string,
      value: (p: { liveAnswers: number; abandons: number }) => number | null,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['campaign', 'period'],
        registers: [this.registry],
        async collect() {
          const all = await ledgers();
          this.reset();
          for (const l of all) {
            for (const [period, p] of [
              ['30d', l.last30Days],
              ['24h', l.last24Hours],
            ] as const) {
              const v = value(p);
              if (v !== null) this.set({ campaign: l.campaign, period }, v);
            }
          }
        },
      });
    gauge(
      'dialer_live_answers',
      'Attempts a person answered, per campaign and period (30d, 24h)',
      (p) => p.liveAnswers,
    );
    gauge(
      'dialer_abandoned_calls',
      'Live answers the dialer abandoned (no agent within 2 s)',
      (p) => p.abandons,
    );
    gauge(
      'dialer_abandon_rate',
      'Abandoned calls per live answer (FCC: 30 days; Ofcom: 24 h); absent before any live answer',
      (p) => (p.liveAnswers > 0 ? p.abandons / p.liveAnswers : null),
    );
  }
}

/**
 * Serves GET /metrics: our registry, then (when given) the Temporal SDK's own Prometheus exporter,
 * fetched from its internal address, so one scrape gets both.
 */
export async function serveMetrics(o: {
  metrics: DialerMetrics;
  host: string;
  port: number;
  sdkMetricsUrl?: string;
}): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try GET /metrics\n');
      return;
    }
    void (async () => {
      const ours = await o.metrics.registry.metrics();
      let sdk = '';
      if (o.sdkMetricsUrl) {
        try {
          sdk = await (await fetch(o.sdkMetricsUrl, { signal: AbortSignal.timeout(2000) })).text();
        } catch {
          sdk = '# the Temporal SDK metrics exporter did not answer\n';
        }
      }
      res.writeHead(200, { 'content-type': o.metrics.registry.contentType }).end(`${ours}\n${sdk}`);
    })().catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${o.host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
