/**
 * The ports the test stacks and the chaos run give their servers lie outside the kernel's
 * ephemeral range, so that a process asking for "any free port" (the Temporal dev server, at each
 * restart) cannot take the port of a server that is down for a moment.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { ephemeralPortRange, freePort } from '../harness/processes';

test('freePort: a port nothing listens on, outside the range bind(0) draws from', async () => {
  const [lo, hi] = ephemeralPortRange();
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  for (const port of ports) {
    assert.ok(port < lo || port > hi, `${port} is outside ${lo}-${hi}`);
    await new Promise<void>((resolve, reject) => {
      const srv = net.createServer().once('error', reject);
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
    });
  }
});
