/**
 * Every committed history in test/histories/ replays against the current workflow code: a change
 * to workflow behaviour that would break running workflows fails here, not in production. New
 * histories: scripts/capture-histories.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { testDataConverter, workflowBundle } from '../harness/stack';
import { workflowIdOfHistory } from '../infra/history';

const dir = path.join(__dirname, 'histories');
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const load = (f: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

test('there are committed histories to replay', () => {
  assert.ok(files.length >= 3, files.join(', '));
});

for (const file of files) {
  test(`replays ${file} against the current workflow code`, async () => {
    const history = load(file);
    const workflowId = await workflowIdOfHistory(history, testDataConverter);
    assert.ok(workflowId, `${file}: its workflow id follows from its input`);
    await Worker.runReplayHistory(
      { workflowBundle: await workflowBundle(), dataConverter: testDataConverter },
      history,
      workflowId,
    );
  });
}

test('no committed history records a patch marker while the workflow code has none', () => {
  const workflows = path.join(__dirname, '..', 'workflows');
  const code = fs
    .readdirSync(workflows)
    .map((f) => fs.readFileSync(path.join(workflows, f), 'utf8'))
    .join('\n');
  if (/\b(patched|deprecatePatch)\(/.test(code)) return;
  for (const file of files) {
    const events = (load(file).events ?? []).filter(
      (e) => e.markerRecordedEventAttributes?.markerName === 'core_patch',
    );
    assert.equal(events.length, 0, `${file} has a patch marker; re-capture it`);
  }
});

test('a change that is not replay-safe fails the replay', async () => {
  const changed = await bundleWorkflowCode({
    workflowsPath: path.join(__dirname, 'fixtures', 'changed-workflows.ts'),
    logger: quiet as never,
  });
  await assert.rejects(
    Worker.runReplayHistory({ workflowBundle: changed }, load('contact-rescheduled-redial.json'), 'changed'),
    DeterminismViolationError,
  );
});
