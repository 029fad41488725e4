/**
 * The fault-injection run (contract §9, docs/development.md): the real stack in separate
 * processes (Temporal dev server on a file, the webhook/API server, several workers; PostgreSQL
 * behind a proxy that can cut it; the Twilio simulator in this process), a campaign with random
 * outcomes and short retry delays, and a seeded schedule of faults. When everything has settled
 * it stops the campaign and checks the database, call_attempts and the simulator's calls against
 * the contract (checks.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectDatabase, type Database } from '../db/client';
import { ensureDatabase, migrateDatabase } from '../db/migrate';
import { config, SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN } from '../infra/config';
import { createLogger } from '../infra/logger';
import { freePort, runDialer } from '../harness/processes';
import { ensureTemporalCli, startDevServer, stopDevServer } from '../infra/temporal-server';
import { type RunningSimulator, startSimulator, type OutcomeSpec } from '../simulator';
import { ContactSuccessful } from '../domain/contract';
import {
  checkRun,
  type ContactRecord,
  type AttemptRecord,
  summarise,
  INVARIANTS,
  type Invariant,
  type RetriedPost,
} from './checks';
import { PgProxy } from '../harness/pg-proxy';
import {
  type CrmEdit,
  FAULT_KINDS,
  type FaultKind,
  type PlannedFault,
  planFaults,
  planOutcomes,
  Rng,
  shareNumbers,
} from './plan';
import { Service } from '../harness/service';

export interface ChaosOptions {
  contacts: number;
  faults: number;
  seed: number;
  /** Worker processes (default 2). */
  workers?: number;
  /** Mean gap between faults (default 1500 ms). */
  faultGapMs?: number;
  /** The PostgreSQL database the run fills (created and migrated; never the app's own). */
  databaseUrl: string;
  /** How long to wait for the campaign to settle after the last fault before stopping it anyway. */
  settleTimeoutMs?: number;
  /** Where the Temporal database and the processes' logs go (default: a new temp folder). */
  workDir?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  campaign: string;
  contacts: number;
  attempts: number;
  calls: number;
  faults: Record<FaultKind, number>;
  crmEdits: Record<CrmEdit, { applied: number; refused: number }>;
  violations: Record<Invariant, number>;
  /** The contacts involved, per violated invariant. */
  violatingContacts: Partial<Record<Invariant, number[]>>;
  /** The first violations in words. */
  examples: string[];
  /** Process exits nobody asked for, per process (restarted by the supervisor). */
  crashes: Record<string, number>;
  /** The campaign had not settled when the settle timeout ran out. */
  settled: boolean;
  outcomes: Record<string, number>;
  /** Attempts whose callbacks were all lost: decided from the fetched call, which has no SIP code. */
  decidedWithoutSipCode: number;
  seconds: number;
  workDir: string;
}

const CALLER_ID = '+15005550006';
const MAX_ATTEMPTS = 3;
const FINAL_STATES = [4, 1000]; // WrongNumber, Banned (the default final set)
const TWILIO_TIMEOUT_MS = 2000;
/** The share of contacts given another contact's number. */
const SHARED_NUMBER_SHARE = 0.05;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `dialer <args>`; resolves with the exit code and its output. */
async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  const r = await runDialer(args, env);
  return { code: r.code, out: r.stdout + r.stderr };
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = o.log ?? ((line: string) => console.error(line));
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  const rng = new Rng(o.seed);
  const workers = o.workers ?? 2;
  const workDir = o.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `dialer-chaos-${o.seed}-`));
  fs.mkdirSync(path.join(workDir, 'logs'), { recursive: true });
  const cleanups: (() => Promise<unknown>)[] = [];
  const cfg = config();
  // Ctrl-C or a kill of the driver stops what it started (the dev server runs in its own group)
  const interrupted = async (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the processes this run started`);
    for (const c of [...cleanups].reverse()) await c().catch(() => undefined);
    process.exit(130);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);

  await ensureDatabase(o.databaseUrl);
  await migrateDatabase(o.databaseUrl);
  const db = connectDatabase(o.databaseUrl, { max: 4 });
  cleanups.push(() => db.close());
  try {
    // PostgreSQL behind the cuttable proxy; Temporal on a file of its own; the simulator here
    const { proxy, url: appDbUrl } = await PgProxy.inFrontOf(o.databaseUrl);
    cleanups.push(() => proxy.close());

    const temporalAddress = `127.0.0.1:${await freePort()}`;
    const uiPort = await freePort();
    const cli_ = await ensureTemporalCli(cfg.toolsDir, log);
    const devServerOptions = {
      cli: cli_,
      address: temporalAddress,
      uiPort,
      namespace: 'default',
      dbFile: path.join(workDir, 'temporal.db'),
      logFile: path.join(workDir, 'logs', 'temporal.log'),
    };
    let temporal = await startDevServer(devServerOptions);
    cleanups.push(() => stopDevServer(temporal));
    log(
      `[${elapsed()}] Temporal dev server at ${temporalAddress} (UI http://127.0.0.1:${uiPort}), data in ${workDir}`,
    );

    const sim = await startSimulator({
      accountSid: SIMULATOR_ACCOUNT_SID,
      authToken: SIMULATOR_AUTH_TOKEN,
      timeScale: 0.1,
      // callbacks to a killed webhook server fail by design: only errors are news here
      logger: createLogger('error', 'simulator'),
    });
    cleanups.push(() => sim.close());

    const serverPort = await freePort();
    const apiToken = randomBytes(24).toString('hex');
    const campaign = `chaos-${o.seed}-${Date.now().toString(36)}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: appDbUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_TASK_QUEUE: campaign,
      TWILIO_ACCOUNT_SID: '',
      TWILIO_AUTH_TOKEN: '',
      TWILIO_API_BASE_URL: sim.url,
      TWILIO_TIMEOUT_MS: String(TWILIO_TIMEOUT_MS),
      PUBLIC_BASE_URL: `http://127.0.0.1:${serverPort}`,
      SERVER_HOST: '127.0.0.1',
      SERVER_PORT: String(serverPort),
      DIALER_API_TOKEN: apiToken,
      METRICS_PORT: 'off',
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
    };
    const logFile = (name: string) => path.join(workDir, 'logs', `${name}.log`);
    const server = new Service('server', ['server'], env, logFile('server'));
    const workerServices = Array.from(
      { length: workers },
      (_, i) => new Service(`worker-${i + 1}`, ['worker'], env, logFile(`worker-${i + 1}`)),
    );
    const services = [server, ...workerServices];
    for (const s of services) s.start();
    cleanups.push(() => Promise.all(services.map((s) => s.stop())));

    // the campaign and its contacts, as an operator and a CRM would make them
    const contacts = makeContacts(rng, o.contacts);
    // one person, several rows: never two calls to them at once (invariant 9)
    const shared = shareNumbers(rng, contacts, SHARED_NUMBER_SHARE);
    const plans = new Map<string, OutcomeSpec[]>(
      contacts.filter((c) => c.phone.startsWith('+')).map((c) => [c.phone, planOutcomes(rng)]),
    );
    const applyScenario = () =>
      sim.setScenario({
        default: { outcome: 'human', ringSeconds: 2, talkSeconds: 5 },
        numbers: Object.fromEntries(plans),
      });
    applyScenario();
    const banned = new Set(contacts.filter((c) => c.banned).map((c) => c.phone));
    if (banned.size) {
      await db.sql`insert into banned_numbers ${db.sql([...banned].map((p) => ({ phone_number: p, reason: campaign })))} on conflict do nothing`;
    }
    cleanups.push(() => db.sql`delete from banned_numbers where reason = ${campaign}`);
    const created = await cli(
      [
        'campaign',
        'create',
        campaign,
        '--caller-id',
        CALLER_ID,
        // the simulator's numbers, around the clock
        '--window',
        'daily 00:00-24:00',
        '--max-attempts',
        String(MAX_ATTEMPTS),
        '--lines',
        '20',
        '--calls-per-second',
        '50',
        '--ring-timeout',
        '20',
        '--retry',
        'default=2s',
        '--retry',
        'Busy=1s',
        '--retry',
        'AlertingTimeout=3s',
      ],
      env,
    );
    if (created.code !== 0) throw new Error(`campaign create failed:\n${created.out}`);
    await db.sql`insert into contacts ${db.sql(contacts.map((c) => ({ campaign_name: campaign, phone_number: c.phone })))}`;
    const startArgs = [
      'campaign',
      'start',
      campaign,
      '--refill-interval',
      '5s',
      '--call-timeout',
      '15s',
      '--lookahead',
      '10s',
    ];
    const start = await retry(
      () => cli(startArgs, env),
      (r) => r.code === 0,
      60_000,
    );
    if (start.code !== 0) throw new Error(`campaign start failed:\n${start.out}`);
    const campaignStarted = Date.now();
    log(
      `[${elapsed()}] campaign ${campaign}: ${o.contacts} contacts (${banned.size} on the do-not-call list, ` +
        `${shared} with another contact's number), ${workers} workers`,
    );

    // the faults
    const schedule = planFaults(rng, o.faults, o.faultGapMs ?? 1500, workers);
    const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    const crmEdits = {
      'follow-up': { applied: 0, refused: 0 },
      'redial-now': { applied: 0, refused: 0 },
      reset: { applied: 0, refused: 0 },
      'add-contacts': { applied: 0, refused: 0 },
    };
    const resets = new Map<number, Date[]>();
    const retriedPosts: RetriedPost[] = [];
    const busy = new Map<FaultKind, Promise<void>>();
    const background: Promise<unknown>[] = [];
    // A request is sent again only when it never reached the server (connection refused while the
    // server is down); one cut off in flight may have been carried out, so it is not repeated.
    const api = async (method: string, url: string, body: unknown) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          const r = await fetch(`http://127.0.0.1:${serverPort}/api${url}`, {
            method,
            headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          return { status: r.status, body: await r.text() };
        } catch (err) {
          const code = (err as { cause?: { code?: string } }).cause?.code;
          if (code !== 'ECONNREFUSED' || Date.now() > deadline)
            return { status: 0, body: `no answer: ${code ?? String(err)}` };
          await sleep(300);
        }
      }
    };

    const inject = async (f: PlannedFault): Promise<string> => {
      switch (f.kind) {
        case 'worker-kill': {
          let w = workerServices[f.worker!]!;
          while (!w.alive) {
            w = workerServices.find((s) => s.alive) ?? w;
            if (!w.alive) await sleep(200);
          }
          await w.kill9();
          background.push(sleep(f.durationMs!).then(() => w.start()));
          return `kill -9 ${w.name}, restart in ${f.durationMs} ms`;
        }
        case 'server-kill': {
          await server.kill9();
          await sleep(f.durationMs!);
          server.start();
          return `kill -9 the webhook server, restarted after ${f.durationMs} ms`;
        }
        case 'temporal-restart': {
          const t0 = Date.now();
          await stopDevServer(temporal);
          temporal = await startDevServer(devServerOptions);
          return `Temporal restarted on its file in ${Date.now() - t0} ms`;
        }
        case 'db-cut': {
          const n = proxy.cut(f.durationMs!);
          await sleep(f.durationMs!);
          return `PostgreSQL cut for ${f.durationMs} ms (${n} connections reset)`;
        }
        case 'late-create': {
          sim.setFaults({ createDelayMs: TWILIO_TIMEOUT_MS + 1500 });
          await sleep(f.durationMs!);
          sim.setFaults({ createDelayMs: 0 });
          return `creates answered after the SDK timed out, for ${f.durationMs} ms`;
        }
        case 'crm-edit':
          return crmEdit(f.crm!);
        case 'api-retry': {
          const fresh = makeContacts(rng, rng.int(1, 3), new Set(plans.keys())).filter(
            (c) => !c.banned && c.phone.startsWith('+'),
          );
          for (const c of fresh) plans.set(c.phone, planOutcomes(rng));
          applyScenario();
          // allowDuplicateNumber: only the key stands between a retry and a second row
          const body = {
            campaign,
            contacts: fresh.map((c) => ({ phoneNumber: c.phone })),
            allowDuplicateNumber: true,
          };
          const r = await postRetriedAfterTimeout(
            `http://127.0.0.1:${serverPort}/api/contacts`,
            apiToken,
            body,
            f.cutAfterMs!,
          );
          retriedPosts.push({ numbers: fresh.map((c) => c.phone), status: r.status });
          return `CRM POST /api/contacts cut off after ${f.cutAfterMs} ms (${r.first}), sent again with its Idempotency-Key: ${r.status}${r.replayed ? ' replayed' : ''} after ${r.tries} tr${r.tries === 1 ? 'y' : 'ies'}`;
        }
      }
    };

    const crmEdit = async (edit: CrmEdit): Promise<string> => {
      const pickContact = async (states: number[], underMax: boolean) => {
        const rows = await db.sql<{ id: string }[]>`
          select id from contacts where campaign_name = ${campaign} and contact_successful in ${db.sql(states)}
            ${underMax ? db.sql`and number_of_contacts < ${MAX_ATTEMPTS}` : db.sql``}
          order by id`;
        return rows.length ? Number(rng.pick(rows).id) : undefined;
      };
      let id: number | undefined;
      let res: { status: number; body: string } | undefined;
      if (edit === 'add-contacts') {
        const fresh = makeContacts(rng, rng.int(1, 3), new Set(plans.keys())).filter((c) => !c.banned);
        for (const c of fresh) if (c.phone.startsWith('+')) plans.set(c.phone, planOutcomes(rng));
        applyScenario();
        res = await api('POST', '/contacts', {
          campaign,
          contacts: fresh.map((c) => ({ phoneNumber: c.phone })),
        });
      } else if (edit === 'reset') {
        id = await pickContact([ContactSuccessful.Unreachable], false);
        if (id !== undefined) {
          const at = new Date();
          res = await api('POST', `/contacts/${id}/reset`, {});
          let done = res.status > 0 && res.status < 400;
          if (res.status === 0) {
            // cut off in flight: see whether it was carried out
            const [row] = await db.sql<
              { n: number }[]
            >`select number_of_contacts as n from contacts where id = ${id} and contact_successful <> -1`;
            done = row?.n === 0;
          }
          if (done) resets.set(id, [...(resets.get(id) ?? []), at]);
        }
      } else {
        const followUp = edit === 'follow-up';
        id = await pickContact(followUp ? [1, 2] : [0, 2, 3], true);
        if (id !== undefined) {
          res = await api('POST', `/contacts/${id}/redial`, { at: followUp ? `+${rng.int(2, 10)}s` : 'now' });
        }
      }
      const ok = res !== undefined && res.status > 0 && res.status < 400;
      crmEdits[edit][ok ? 'applied' : 'refused']++;
      return `CRM ${edit}${id !== undefined ? ` contact ${id}` : ''}: ${res ? `${res.status}${ok ? '' : ` ${res.body.slice(0, 120)}`}` : 'no candidate'}`;
    };

    const progress = async () => {
      const [r] = await db.sql<{ recorded: number; cached: number; open: number }[]>`
        select (select count(*)::int from call_attempts where campaign_name = ${campaign} and recorded_at is not null) as recorded,
               count(*) filter (where contact_successful = 3)::int as cached,
               count(*) filter (where contact_successful in (0, 2) and number_of_contacts < ${MAX_ATTEMPTS})::int as open
        from contacts where campaign_name = ${campaign}`;
      return r!;
    };

    for (const f of schedule) {
      const wait = campaignStarted + f.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      const previous = busy.get(f.kind) ?? Promise.resolve();
      const run = previous.then(async () => {
        const what = await inject(f).catch((err: unknown) => `failed to inject: ${String(err)}`);
        faults[f.kind]++;
        const p = await progress().catch(() => undefined);
        log(
          `[${elapsed()}] fault ${f.n}/${schedule.length} ${f.kind}: ${what}` +
            (p ? ` — ${p.recorded} attempts recorded, ${p.cached} cached, ${p.open} to dial` : ''),
        );
      });
      busy.set(f.kind, run);
    }
    await Promise.all(busy.values());
    await Promise.all(background);
    log(`[${elapsed()}] all ${schedule.length} faults injected; waiting for the campaign to settle`);

    // settle: nothing cached, nothing left to dial
    const settleDeadline = Date.now() + (o.settleTimeoutMs ?? 600_000);
    let settled = false;
    let lastLog = 0;
    while (Date.now() < settleDeadline) {
      const p = await progress();
      if (p.cached === 0 && p.open === 0) {
        settled = true;
        break;
      }
      if (Date.now() - lastLog > 5000) {
        log(`[${elapsed()}] ${p.recorded} attempts recorded, ${p.cached} cached, ${p.open} to dial`);
        lastLog = Date.now();
      }
      await sleep(500);
    }
    if (!settled)
      log(`[${elapsed()}] not settled after ${(o.settleTimeoutMs ?? 600_000) / 1000} s: stopping anyway`);
    const stop = await retry(
      () => cli(['campaign', 'stop', campaign, '--wait'], env),
      (r) => r.code === 0,
      120_000,
    );
    if (stop.code !== 0) log(`campaign stop failed:\n${stop.out}`);
    await sim.idle(30_000).catch(() => log('the simulator still had live calls'));

    // stop the processes (SIGTERM: they drain), then read the three records
    await Promise.all(services.map((s) => s.stop()));
    const records = { ...(await readRecords(db, sim, campaign, banned, resets)), retriedPosts };
    const seen = { decidedWithoutSipCode: [] as number[] };
    const violations = checkRun(records, seen);
    const { counts, contacts: violating } = summarise(violations);
    const outcomes: Record<string, number> = {};
    for (const a of records.attempts)
      outcomes[String(a.lastState)] = (outcomes[String(a.lastState)] ?? 0) + 1;
    return {
      seed: o.seed,
      campaign,
      contacts: records.contacts.length,
      attempts: records.attempts.length,
      calls: records.calls.length,
      faults,
      crmEdits,
      violations: counts,
      violatingContacts: violating,
      examples: violations
        .slice(0, 20)
        .map((v) => `${v.invariant}: contact ${v.contactId ?? '?'}: ${v.detail}`),
      crashes: Object.fromEntries(services.map((s) => [s.name, s.crashes])),
      settled,
      outcomes,
      decidedWithoutSipCode: seen.decidedWithoutSipCode.length,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      workDir,
    };
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

interface PlannedContact {
  phone: string;
  banned: boolean;
}

/** Unique numbers in +1500 (Twilio's test range; shareNumbers makes some shared); about 3 % on the do-not-call list, 1 % unparsable. */
function makeContacts(rng: Rng, n: number, taken = new Set<string>()): PlannedContact[] {
  const out: PlannedContact[] = [];
  while (out.length < n) {
    const unparsable = rng.float() < 0.01;
    const phone = unparsable
      ? `00-${rng.int(100, 999)}`
      : `+1500${String(rng.int(0, 9_999_999)).padStart(7, '0')}`;
    if (taken.has(phone)) continue;
    taken.add(phone);
    out.push({ phone, banned: !unparsable && rng.float() < 0.03 });
  }
  return out;
}

async function readRecords(
  db: Database,
  sim: RunningSimulator,
  campaign: string,
  banned: Set<string>,
  resets: Map<number, Date[]>,
) {
  const contacts = await db.sql<
    {
      id: string;
      phone_number: string;
      contact_successful: number;
      last_state: number | null;
      redial_time: Date | null;
      number_of_contacts: number;
    }[]
  >`select id, phone_number, contact_successful, last_state, redial_time, number_of_contacts from contacts where campaign_name = ${campaign}`;
  const attempts = await db.sql<
    {
      contact_id: string;
      attempt_no: number;
      phone_number: string;
      call_sid: string | null;
      placed: boolean;
      due_at: Date | null;
      created_at: Date;
      create_requested_at: Date | null;
      recorded_at: Date | null;
      last_state: number | null;
      facts: AttemptRecord['facts'];
    }[]
  >`select contact_id, attempt_no, phone_number, call_sid, placed, due_at, created_at, create_requested_at,
           recorded_at, last_state, facts
    from call_attempts where campaign_name = ${campaign}`;
  return {
    maxAttempts: MAX_ATTEMPTS,
    finalStates: FINAL_STATES,
    contacts: contacts.map((c): ContactRecord => ({
      id: Number(c.id),
      phoneNumber: c.phone_number,
      contactSuccessful: c.contact_successful,
      lastState: c.last_state,
      redialTime: c.redial_time,
      numberOfContacts: c.number_of_contacts,
    })),
    attempts: attempts.map((a): AttemptRecord => ({
      contactId: Number(a.contact_id),
      attemptNo: a.attempt_no,
      phoneNumber: a.phone_number,
      callSid: a.call_sid,
      placed: a.placed,
      dueAt: a.due_at,
      createdAt: a.created_at,
      createRequestedAt: a.create_requested_at,
      recordedAt: a.recorded_at,
      lastState: a.last_state,
      facts: a.facts,
    })),
    calls: sim.calls().filter((c) => c.from === CALLER_ID),
    rejections: sim.rejections(),
    banned,
    resets,
  };
}

/**
 * A CRM's POST that times out and is sent again with the same Idempotency-Key and body: the first
 * is cut off `cutAfterMs` after it was sent (it may have been carried out, or not); the retries go
 * on while the answer is no answer, 409 (the first is still being answered) or 5xx, for up to 3 min.
 */
async function postRetriedAfterTimeout(
  url: string,
  token: string,
  body: unknown,
  cutAfterMs: number,
): Promise<{ first: string; status: number; replayed: boolean; tries: number }> {
  const init = {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'idempotency-key': randomUUID(),
    },
    body: JSON.stringify(body),
  };
  const first = await fetch(url, { ...init, signal: AbortSignal.timeout(cutAfterMs) }).then(
    async (r) => `answered ${r.status} before the cut`,
    () => 'no answer',
  );
  // a CRM keeps trying: through the fault storm the server may be down (killed, restarting) or
  // answer 503 (the database cut) for a minute or more
  const deadline = Date.now() + 180_000;
  for (let tries = 1; ; tries++) {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
    const status = r?.status ?? 0;
    if ((status === 0 || status === 409 || status >= 500) && Date.now() < deadline) {
      await sleep(300);
      continue;
    }
    await r?.arrayBuffer().catch(() => undefined);
    return { first, status, replayed: r?.headers.get('idempotent-replayed') === 'true', tries };
  }
}

async function retry<T>(fn: () => Promise<T>, ok: (r: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fn();
    if (ok(r) || Date.now() > deadline) return r;
    await sleep(500);
  }
}

export function formatReport(r: ChaosReport): string {
  const lines = [
    `chaos run, seed ${r.seed}: ${r.seconds} s`,
    `  contacts ${r.contacts}, attempts ${r.attempts}, calls at the simulator ${r.calls}${r.settled ? '' : ' (NOT SETTLED)'}`,
    `  faults: ${Object.entries(r.faults)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
    `  CRM edits: ${Object.entries(r.crmEdits)
      .map(([k, v]) => `${k} ${v.applied}${v.refused ? ` (+${v.refused} refused)` : ''}`)
      .join(', ')}`,
    `  attempts decided from a fetched call without its SIP code (every callback lost): ${r.decidedWithoutSipCode}`,
    `  crashes (restarted): ${Object.entries(r.crashes)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
    '  invariants:',
    ...Object.entries(r.violations).map(
      ([k, n]) =>
        `    ${n === 0 ? 'held    ' : `VIOLATED ${n}`} ${INVARIANTS[k as Invariant]}` +
        (n ? ` — contacts ${(r.violatingContacts[k as Invariant] ?? []).slice(0, 20).join(', ')}` : ''),
    ),
    ...r.examples.map((e) => `    ${e}`),
  ];
  return lines.join('\n');
}
