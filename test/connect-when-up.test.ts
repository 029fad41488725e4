/** A worker started while Temporal is down (restarting, or not up yet) waits for it, then gives up. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { connectWhenUp } from '../worker/main';
import { cfg, freePort } from '../harness/stack';

test('connectWhenUp connects to a server that answers, and waits, logging, before giving up on one that does not', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
  const connection = await connectWhenUp(cfg.temporal.address, logger, 5000);
  await connection.close();
  assert.equal(lines.length, 0, 'no warning for a server that answers');

  const down = `127.0.0.1:${await freePort()}`;
  await assert.rejects(connectWhenUp(down, logger, 1500));
  assert.ok(lines.length >= 1, 'it said it was waiting');
  assert.match(lines[0]!, /Temporal does not answer yet/);
  assert.ok(
    lines.every((l) => l.includes(down)),
    'naming the address',
  );
});
