/**
 * The Temporal dev server the project finds or builds, starts, registers its search attributes on,
 * and stops. Runs a second dev server beside the suite's own, on free ports and a file database.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Connection } from '@temporalio/client';
import {
  TemporalSetupError,
  cachedCliPath,
  ensureTemporalCli,
  findTemporalCli,
  startDevServer,
  stopDevServer,
  temporalAnswers,
} from '../infra/temporal-server';
import { SEARCH_ATTRIBUTES } from '../workflows/shared';
import { cfg, freePort } from '../harness/stack';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'dialer-temporal-'));

test('without a CLI and without Go it says what to install, and builds nothing', async () => {
  const tools = tmp();
  await assert.rejects(
    ensureTemporalCli(tools, () => {}, { path: '', goFallbacks: [] }),
    (err: Error) =>
      err instanceof TemporalSetupError &&
      /Temporal CLI/.test(err.message) &&
      /Go/.test(err.message) &&
      /TEMPORAL_ADDRESS/.test(err.message),
  );
  assert.deepEqual(fs.readdirSync(tools), []);
});

test('a temporal on PATH wins over the cached build; the cached build is found without PATH', () => {
  const tools = tmp();
  const cached = cachedCliPath(tools);
  fs.mkdirSync(path.dirname(cached), { recursive: true });
  fs.writeFileSync(cached, '#!/bin/sh\n', { mode: 0o755 });
  const bin = tmp();
  fs.writeFileSync(path.join(bin, 'temporal'), '#!/bin/sh\n', { mode: 0o755 });
  assert.equal(findTemporalCli(tools, { path: bin, goFallbacks: [] }), path.join(bin, 'temporal'));
  assert.equal(findTemporalCli(tools, { path: '', goFallbacks: [] }), cached);
  assert.equal(findTemporalCli(tmp(), { path: '', goFallbacks: [] }), undefined);
});

test('start-dev on a file database: answers, has our search attributes and the UI its codec server, stops cleanly, restarts on the same file', async () => {
  const cli = findTemporalCli(cfg.toolsDir);
  assert.ok(cli, 'the suite runner built or found the CLI');
  const dir = tmp();
  const dbFile = path.join(dir, 'temporal.db');
  const address = `127.0.0.1:${await freePort()}`;
  const uiPort = await freePort();
  for (const round of [1, 2]) {
    const codecEndpoint = 'http://127.0.0.1:3000/codec';
    const server = await startDevServer({
      cli,
      address,
      uiPort,
      namespace: 'default',
      dbFile,
      codecEndpoint,
    });
    try {
      assert.ok(await temporalAnswers(address), `round ${round}: answers`);
      assert.ok(fs.existsSync(dbFile), 'state is kept in the file');
      const conn = await Connection.connect({ address });
      const { customAttributes } = await conn.operatorService.listSearchAttributes({ namespace: 'default' });
      await conn.close();
      for (const name of Object.keys(SEARCH_ATTRIBUTES))
        assert.ok(name in (customAttributes ?? {}), `round ${round}: ${name}`);
      const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
      assert.equal(ui.status, 200, 'the Web UI is served');
      const settings = (await (await fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`)).json()) as {
        Codec?: { Endpoint?: string };
      };
      assert.equal(settings.Codec?.Endpoint, codecEndpoint, 'the UI decodes payloads through the dialer');
    } finally {
      await stopDevServer(server);
    }
    assert.notEqual(server.exitCode ?? server.signalCode, null, 'the process has exited');
    assert.equal(await temporalAnswers(address, 500), false, `round ${round}: stopped`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
