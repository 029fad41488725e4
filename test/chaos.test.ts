/**
 * The short fault-injection run (docs/development.md): 150 contacts, a dozen faults of each kind (worker
 * kill -9, webhook server kill -9, Temporal restart, PostgreSQL cut, late creates, CRM edits, a CRM
 * POST cut off and sent again with its Idempotency-Key),
 * then every invariant checked from the database, call_attempts and the simulator's calls.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_KINDS } from '../chaos/plan';
import { formatReport, runChaos } from '../chaos/run';
import { cfg } from '../harness/stack';

test('chaos: 150 contacts, 84 faults, every invariant held', { timeout: 900_000 }, async () => {
  // named after the test database, so that runs on one server under other names never meet
  const url = new URL(cfg.testDatabaseUrl);
  url.pathname = `${url.pathname}_chaos`;
  const lines: string[] = [];
  const report = await runChaos({
    contacts: 150,
    faults: 84,
    seed: 20261126,
    faultGapMs: 1000,
    databaseUrl: url.toString(),
    settleTimeoutMs: 300_000,
    log: (line) => lines.push(line),
  });
  const text = formatReport(report);
  console.log(text);
  for (const kind of FAULT_KINDS) assert.equal(report.faults[kind], 12, `12 faults of kind ${kind}`);
  assert.ok(report.settled, `the campaign settled:\n${lines.slice(-20).join('\n')}`);
  assert.ok(report.contacts >= 150, 'the CRM added contacts on top of the 150');
  assert.ok(report.attempts >= report.contacts - 10 && report.calls > 0, 'contacts were dialed');
  assert.deepEqual(
    Object.entries(report.violations).filter(([, n]) => n > 0),
    [],
    `violations:\n${text}\n${lines.slice(-30).join('\n')}`,
  );
});
