/**
 * §5a, the campaign's life: a campaign stays open until an operator pauses or stops it,
 * `--until-empty` (API `untilEmpty`) is the opt-in to complete when nothing is left; stop, pause
 * and resume are idempotent through the command line and the API, and pausing or resuming a
 * campaign that is stopping is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { campaignStatusQuery, campaignWorkflowId } from '../workflows/shared';
import {
  API_TOKEN,
  type Stack,
  createCampaign,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

const QUICK = { outcome: 'human', ringSeconds: 1, talkSeconds: 1 };

describe('campaign life cycle: open until stopped, idempotent control', { timeout: 240_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
    stack.sim.setScenario({ default: QUICK });
  });
  after(async () => stack?.stop());

  const cli = async (...args: string[]) => {
    const r = await runCli(args, stack.env);
    return { ...r, lines: r.stdout.trim().split('\n') };
  };
  const handle = (name: string) => stack.client.workflow.getHandle(campaignWorkflowId(name));
  /** The workflow's own state (`status` query), once it answers. */
  const reaches = (name: string, status: string) =>
    eventually(
      async () => (await handle(name).query(campaignStatusQuery)).status === status,
      30_000,
      `campaign ${name} to be ${status}`,
    );
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(stack.serverUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${API_TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const contactState = async (id: number) =>
    (
      await stack.db.sql<
        { contact_successful: number }[]
      >`select contact_successful from contacts where id = ${id}`
    )[0]!.contact_successful;

  test('stop, pause and resume twice, and on an ended campaign, exit 0 and say so', async () => {
    const name = uid('life');
    await createCampaign(stack.env, name);
    assert.equal((await cli('campaign', 'start', name, '--refill-interval', '10m')).code, 0);
    await reaches(name, 'running');

    const resumeRunning = await cli('campaign', 'resume', name);
    assert.equal(resumeRunning.code, 0, resumeRunning.stderr);
    assert.deepEqual(resumeRunning.lines, [`Campaign "${name}" is already running.`]);

    const pause = await cli('campaign', 'pause', name);
    assert.equal(pause.code, 0, pause.stderr);
    assert.deepEqual(pause.lines, [`paused campaign ${name}`]);
    await reaches(name, 'paused');
    const again = await cli('campaign', 'pause', name);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.lines, [`Campaign "${name}" is already paused.`]);

    const resume = await cli('campaign', 'resume', name);
    assert.equal(resume.code, 0, resume.stderr);
    assert.deepEqual(resume.lines, [`resumed campaign ${name}`]);
    await reaches(name, 'running');
    const resumeAgain = await cli('campaign', 'resume', name);
    assert.equal(resumeAgain.code, 0, resumeAgain.stderr);
    assert.deepEqual(resumeAgain.lines, [`Campaign "${name}" is already running.`]);

    const stop = await cli('campaign', 'stop', name);
    assert.equal(stop.code, 0, stop.stderr);
    assert.deepEqual(stop.lines, [`stopping campaign ${name}`]);
    // with no call in flight it may have ended already: either way nothing more to do
    const stopAgain = await cli('campaign', 'stop', name);
    assert.equal(stopAgain.code, 0, stopAgain.stderr);
    assert.match(stopAgain.stdout, /is already stopping|is not running \(status stopped\): nothing to stop/);
    assert.equal((await handle(name).result()).status, 'stopped');

    for (const what of ['stop', 'pause', 'resume']) {
      const r = await cli('campaign', what, name);
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      assert.deepEqual(r.lines, [`Campaign "${name}" is not running (status stopped): nothing to ${what}.`]);
    }
    const t0 = Date.now();
    const waited = await cli('campaign', 'stop', name, '--wait');
    assert.equal(waited.code, 0, waited.stderr);
    assert.deepEqual(waited.lines, [`Campaign "${name}" is not running (status stopped): nothing to stop.`]);
    assert.ok(Date.now() - t0 < 20_000, 'stop --wait on an ended campaign returns at once');

    const never = uid('life-never');
    await createCampaign(stack.env, never);
    const idle = await cli('campaign', 'stop', never);
    assert.equal(idle.code, 0, idle.stderr);
    assert.deepEqual(idle.lines, [`Campaign "${never}" is not running (status idle): nothing to stop.`]);

    for (const what of ['stop', 'pause', 'resume']) {
      const ghost = uid('life-ghost');
      const r = await cli('campaign', what, ghost);
      assert.notEqual(r.code, 0, `${what} of an unknown campaign`);
      assert.match(r.stderr, new RegExp(`Unknown campaign "${ghost}"`));
    }
  });

  test('a campaign that is stopping cannot be paused or resumed; stopping it again is not an error', async (t) => {
    // One call whose final status callback is lost holds the stopped campaign in 'stopping' until
    // its call timeout asks the simulator (45 s: time for the checks below on a slow machine).
    const name = uid('life-stopping');
    await createCampaign(stack.env, name);
    const phone = testPhone();
    stack.sim.setFaults({ callbacks: { dropEvents: ['completed'] } });
    t.after(() => void stack.sim.setFaults({ callbacks: { dropEvents: [] } }));
    await insertContacts(stack.db, name, [phone]);
    assert.equal((await cli('campaign', 'start', name, '--call-timeout', '45s')).code, 0);
    await eventually(
      async () => stack.sim.calls({ to: phone }).some((c) => c.status === 'completed'),
      30_000,
      'the call to be over (unknown to the campaign)',
    );
    assert.equal((await cli('campaign', 'stop', name)).code, 0);
    await reaches(name, 'stopping');

    for (const what of ['pause', 'resume']) {
      const r = await cli('campaign', what, name);
      assert.equal(r.code, 1, `${what} while stopping: ${r.stdout}`);
      assert.match(
        r.stderr,
        /is stopping \(its calls in progress are finishing\): it cannot be (paused|resumed)/,
      );
      const viaApi = await api('POST', `/api/campaigns/${name}/${what}`);
      assert.equal(viaApi.status, 409, JSON.stringify(viaApi.json));
      assert.match(String(viaApi.json.detail), /is stopping/);
    }
    const again = await cli('campaign', 'stop', name);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.lines, [`Campaign "${name}" is already stopping.`]);
    const viaApi = await api('POST', `/api/campaigns/${name}/stop`);
    assert.equal(viaApi.status, 200, JSON.stringify(viaApi.json));
    assert.deepEqual(viaApi.json, { status: 'stopping', message: `Campaign "${name}" is already stopping.` });

    // stop --wait on a campaign already stopping waits for its call to end
    const waited = await cli('campaign', 'stop', name, '--wait');
    assert.equal(waited.code, 0, waited.stderr);
    assert.deepEqual(waited.lines, [`Campaign "${name}" is already stopping.`, `stopped campaign ${name}`]);
    assert.equal((await handle(name).result()).status, 'stopped');
  });

  test('the API: 202 when it signalled, 200 when nothing had to change, 404 unknown', async () => {
    const name = uid('life-api');
    await createCampaign(stack.env, name);
    // keepRunning is still accepted (and changes nothing: open is the default)
    const started = await api('POST', `/api/campaigns/${name}/start`, { keepRunning: true });
    assert.equal(started.status, 202, JSON.stringify(started.json));
    await reaches(name, 'running');

    const post = (what: string) => api('POST', `/api/campaigns/${name}/${what}`);
    const resumed = await post('resume');
    assert.deepEqual(
      [resumed.status, resumed.json],
      [200, { status: 'running', message: `Campaign "${name}" is already running.` }],
    );
    const paused = await post('pause');
    assert.deepEqual(
      [paused.status, paused.json],
      [202, { campaign: name, signal: 'pause', message: `paused campaign ${name}` }],
    );
    await reaches(name, 'paused');
    const pausedAgain = await post('pause');
    assert.deepEqual(
      [pausedAgain.status, pausedAgain.json],
      [200, { status: 'paused', message: `Campaign "${name}" is already paused.` }],
    );
    assert.equal((await post('resume')).status, 202);
    await reaches(name, 'running');
    assert.equal((await post('stop')).status, 202);
    assert.equal((await handle(name).result()).status, 'stopped');
    for (const what of ['stop', 'pause', 'resume']) {
      const r = await post(what);
      assert.deepEqual(
        [r.status, r.json],
        [
          200,
          {
            status: 'stopped',
            message: `Campaign "${name}" is not running (status stopped): nothing to ${what}.`,
          },
        ],
      );
    }
    const unknown = await api('POST', `/api/campaigns/${uid('life-ghost')}/stop`);
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.json.detail), /Unknown campaign/);

    // the OpenAPI document says so too
    type Op = { responses: Record<string, unknown>; requestBody?: unknown };
    const doc = (await (await fetch(`${stack.serverUrl}/docs/json`)).json()) as {
      paths: Record<string, { post: Op }>;
    };
    for (const what of ['stop', 'pause', 'resume']) {
      const codes = Object.keys(doc.paths[`/api/campaigns/{name}/${what}`]!.post.responses).sort();
      // 400, 401 and 503 are every API route's (problem documents)
      assert.deepEqual(codes, ['200', '202', '400', '401', '404', '409', '503'], what);
    }
    assert.match(JSON.stringify(doc.paths['/api/campaigns/{name}/start']!.post.requestBody), /untilEmpty/);
  });

  test('--until-empty and untilEmpty complete once nothing is left to dial', async () => {
    const viaCli = uid('life-batch');
    const viaApi = uid('life-batch-api');
    for (const name of [viaCli, viaApi]) {
      await createCampaign(stack.env, name);
      await insertContacts(stack.db, name, [testPhone()]);
    }
    const start = await cli('campaign', 'start', viaCli, '--until-empty');
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /completes once nothing is left to dial/);
    assert.equal((await api('POST', `/api/campaigns/${viaApi}/start`, { untilEmpty: true })).status, 202);
    for (const name of [viaCli, viaApi]) {
      const result = await handle(name).result();
      assert.equal(result.status, 'completed', name);
      assert.equal(result.stats.byLastState.Connected, 1, name);
    }
  });

  test('without --until-empty the campaign stays open and dials a contact the CRM adds later', async () => {
    const name = uid('life-open');
    await createCampaign(stack.env, name);
    const [first] = await insertContacts(stack.db, name, [testPhone()]);
    const start = await cli('campaign', 'start', name, '--refill-interval', '1s');
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /open until paused or stopped/);
    await eventually(async () => (await contactState(first!)) === 1, 30_000, 'the first contact reached');
    await eventually(
      async () => (await handle(name).query(campaignStatusQuery)).inFlight === 0,
      30_000,
      'its call to be over',
    );
    // a few refills with nothing to dial: a campaign that finished when done would have ended
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await handle(name).describe()).status.name, 'RUNNING');
    const status = await cli('campaign', 'status', name, '--json');
    const report = JSON.parse(status.stdout) as { status: string; workflow: { status: string } };
    assert.deepEqual([report.status, report.workflow.status], ['running', 'running']);

    // the CRM adds a contact by SQL; the next refill (every second) takes it
    const [late] = await stack.db.sql<{ id: string }[]>`
      insert into contacts (campaign_name, phone_number) values (${name}, ${testPhone()}) returning id`;
    await eventually(
      async () => (await contactState(Number(late!.id))) === 1,
      30_000,
      'the late contact reached',
    );

    const stop = await cli('campaign', 'stop', name, '--wait');
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((await handle(name).result()).status, 'stopped');
  });
});
