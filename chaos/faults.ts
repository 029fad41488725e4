/**
 * The faults of a run (run.ts), injected on the seeded schedule: one handler per kind, each
 * saying in a few words what it did. Faults of one kind wait for each other; kinds overlap.
 */
import { randomUUID } from 'node:crypto';
import { contactIdsInStates, contactState } from '../db/queries/contacts';
import { ContactSuccessful } from '../domain/contract';
import {
  type CrmEdit,
  ENGINE_FAULT_KINDS,
  type FaultKind,
  makeContacts,
  type PlannedContact,
  type PlannedFault,
  planFaults,
  planOutcomes,
} from './plan';
import { type ChaosRun, MAX_ATTEMPTS, progress, sleep, TWILIO_TIMEOUT_MS } from './stack';

type Handler = (run: ChaosRun, f: PlannedFault) => Promise<string>;

const FAULTS: Record<FaultKind, Handler> = {
  'worker-kill': killWorker,
  'server-kill': killServer,
  'temporal-restart': restartTemporal,
  'db-cut': cutDatabase,
  'late-create': lateCreates,
  'crm-edit': async (run, f) => crmEdit(run, f.crm!),
  'api-retry': retriedPost,
  'temporal-kill': killTemporal,
  'temporal-db-cut': cutTemporalDatabase,
};

/** The whole schedule, then the restarts it left pending. */
export async function injectFaults(run: ChaosRun): Promise<void> {
  const kinds = ENGINE_FAULT_KINDS[run.o.engine ?? 'dev'];
  const schedule = planFaults(run.rng, run.o.faults, run.o.faultGapMs ?? 1500, run.workers, kinds);
  const busy = new Map<FaultKind, Promise<void>>();
  for (const f of schedule) {
    const wait = run.campaignStarted + f.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    const previous = busy.get(f.kind) ?? Promise.resolve();
    busy.set(
      f.kind,
      previous.then(() => injectOne(run, f, schedule.length)),
    );
  }
  await Promise.all(busy.values());
  await Promise.all(run.tally.background);
  run.log(`[${run.elapsed()}] all ${schedule.length} faults injected; waiting for the campaign to settle`);
}

async function injectOne(run: ChaosRun, f: PlannedFault, total: number): Promise<void> {
  const what = await FAULTS[f.kind](run, f).catch((err: unknown) => `failed to inject: ${String(err)}`);
  run.tally.faults[f.kind] = (run.tally.faults[f.kind] ?? 0) + 1;
  const p = await progress(run).catch(() => undefined);
  run.log(
    `[${run.elapsed()}] fault ${f.n}/${total} ${f.kind}: ${what}` +
      (p ? ` — ${p.recorded} attempts recorded, ${p.cached} cached, ${p.open} to dial` : ''),
  );
}

async function killWorker(run: ChaosRun, f: PlannedFault): Promise<string> {
  let w = run.workerServices[f.worker!]!;
  while (!w.alive) {
    w = run.workerServices.find((s) => s.alive) ?? w;
    if (!w.alive) await sleep(200);
  }
  await w.kill9();
  run.tally.background.push(sleep(f.durationMs!).then(() => w.start()));
  return `kill -9 ${w.name}, restart in ${f.durationMs} ms`;
}

async function killServer(run: ChaosRun, f: PlannedFault): Promise<string> {
  await run.server.kill9();
  await sleep(f.durationMs!);
  run.server.start();
  return `kill -9 the webhook server, restarted after ${f.durationMs} ms`;
}

async function restartTemporal(run: ChaosRun): Promise<string> {
  const t0 = Date.now();
  const upIn = await run.temporal.process.restart();
  return `Temporal stopped and started again on its state in ${Date.now() - t0} ms (the start ${upIn} ms)`;
}

async function killTemporal(run: ChaosRun, f: PlannedFault): Promise<string> {
  const upIn = await run.temporal.process.kill9(f.durationMs!);
  return `kill -9 temporal-server, started again after ${f.durationMs} ms, answering ${upIn} ms later`;
}

async function cutDatabase(run: ChaosRun, f: PlannedFault): Promise<string> {
  const n = run.proxy.cut(f.durationMs!);
  await sleep(f.durationMs!);
  return `PostgreSQL cut for ${f.durationMs} ms (${n} connections reset)`;
}

async function cutTemporalDatabase(run: ChaosRun, f: PlannedFault): Promise<string> {
  const proxy = run.temporal.proxy;
  if (!proxy) throw new Error('temporal-db-cut needs the postgres engine');
  const n = proxy.cut(f.durationMs!);
  await sleep(f.durationMs!);
  return `Temporal's PostgreSQL cut for ${f.durationMs} ms (${n} connections reset)`;
}

async function lateCreates(run: ChaosRun, f: PlannedFault): Promise<string> {
  run.sim.setFaults({ createDelayMs: TWILIO_TIMEOUT_MS + 1500 });
  await sleep(f.durationMs!);
  run.sim.setFaults({ createDelayMs: 0 });
  return `creates answered after the SDK timed out, for ${f.durationMs} ms`;
}

async function retriedPost(run: ChaosRun, f: PlannedFault): Promise<string> {
  const fresh = freshContacts(run, true);
  // allowDuplicateNumber: only the key stands between a retry and a second row
  const body = {
    campaign: run.campaign,
    contacts: fresh.map((c) => ({ phoneNumber: c.phone })),
    allowDuplicateNumber: true,
  };
  const r = await postRetriedAfterTimeout(
    `http://127.0.0.1:${run.serverPort}/api/contacts`,
    run.apiToken,
    body,
    f.cutAfterMs!,
  );
  run.tally.retriedPosts.push({ numbers: fresh.map((c) => c.phone), status: r.status });
  return `CRM POST /api/contacts cut off after ${f.cutAfterMs} ms (${r.first}), sent again with its Idempotency-Key: ${r.status}${r.replayed ? ' replayed' : ''} after ${r.tries} tr${r.tries === 1 ? 'y' : 'ies'}`;
}

/**
 * One to three contacts new to the campaign and not on the do-not-call list (`dialableOnly`: no
 * unparsable number either), their outcomes handed to the simulator. Drawn again while none is
 * left: an empty list is a request the API refuses (400), not a CRM's edit (the seed-1 run on
 * the postgres engine counted it as a retried POST that did not end in 201).
 */
function freshContacts(run: ChaosRun, dialableOnly: boolean): PlannedContact[] {
  let fresh: PlannedContact[] = [];
  while (fresh.length === 0) {
    fresh = makeContacts(run.rng, run.rng.int(1, 3), new Set(run.plans.keys())).filter(
      (c) => !c.banned && (!dialableOnly || c.phone.startsWith('+')),
    );
  }
  for (const c of fresh) if (c.phone.startsWith('+')) run.plans.set(c.phone, planOutcomes(run.rng));
  run.applyScenario();
  return fresh;
}

interface Answer {
  status: number;
  body: string;
}

/** What a CRM edit did: the contact it chose, and the API's answer (none: no candidate). */
type CrmEditor = (run: ChaosRun) => Promise<{ id?: number; res?: Answer }>;

const CRM_EDITS: Record<CrmEdit, CrmEditor> = {
  'follow-up': (run) => redial(run, true),
  'redial-now': (run) => redial(run, false),
  reset: resetContact,
  'add-contacts': addContacts,
};

async function crmEdit(run: ChaosRun, edit: CrmEdit): Promise<string> {
  const { id, res } = await CRM_EDITS[edit](run);
  const ok = res !== undefined && res.status > 0 && res.status < 400;
  run.tally.crmEdits[edit][ok ? 'applied' : 'refused']++;
  return `CRM ${edit}${id !== undefined ? ` contact ${id}` : ''}: ${res ? `${res.status}${ok ? '' : ` ${res.body.slice(0, 120)}`}` : 'no candidate'}`;
}

async function addContacts(run: ChaosRun): Promise<{ res: Answer }> {
  const fresh = freshContacts(run, false);
  const res = await api(run, 'POST', '/contacts', {
    campaign: run.campaign,
    contacts: fresh.map((c) => ({ phoneNumber: c.phone })),
  });
  return { res };
}

async function resetContact(run: ChaosRun): Promise<{ id?: number; res?: Answer }> {
  const id = await pickContact(run, [ContactSuccessful.Unreachable], false);
  if (id === undefined) return {};
  const at = new Date();
  const res = await api(run, 'POST', `/contacts/${id}/reset`, {});
  let done = res.status > 0 && res.status < 400;
  if (res.status === 0) {
    // cut off in flight: see whether it was carried out
    const row = await contactState(run.db.sql, id);
    done = row?.contact_successful !== ContactSuccessful.Unreachable && row?.number_of_contacts === 0;
  }
  if (done) run.tally.resets.set(id, [...(run.tally.resets.get(id) ?? []), at]);
  return { id, res };
}

/** A follow-up at a time a few seconds away, or a redial now. */
async function redial(run: ChaosRun, followUp: boolean): Promise<{ id?: number; res?: Answer }> {
  const id = await pickContact(run, followUp ? [1, 2] : [0, 2, 3], true);
  if (id === undefined) return {};
  const res = await api(run, 'POST', `/contacts/${id}/redial`, {
    at: followUp ? `+${run.rng.int(2, 10)}s` : 'now',
  });
  return { id, res };
}

async function pickContact(run: ChaosRun, states: number[], underMax: boolean): Promise<number | undefined> {
  const ids = await contactIdsInStates(run.db.db, run.campaign, states, underMax ? MAX_ATTEMPTS : undefined);
  return ids.length ? run.rng.pick(ids) : undefined;
}

/**
 * A request is sent again only when it never reached the server (connection refused while the
 * server is down); one cut off in flight may have been carried out, so it is not repeated.
 */
async function api(run: ChaosRun, method: string, url: string, body: unknown): Promise<Answer> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${run.serverPort}/api${url}`, {
        method,
        headers: { authorization: `Bearer ${run.apiToken}`, 'content-type': 'application/json' },
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
