/**
 * Does a postgres.js `listen` through the embedded database (PGlite behind pglite-socket) receive
 * the contacts trigger's notifications? Starts the embedded database in a fresh folder, migrates
 * it, listens on one connection, writes a contact as a CRM would on another, and prints what
 * arrived within 3 s, as one JSON line: `received` stays empty (PGlite has one session, and hands
 * a notification to the connection whose transaction sent it, not to the listener's). Then the
 * fallback the workers use there, the poll: `polled` names the campaigns it would have signalled.
 *
 *   npx tsx harness/pglite-listen-check.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import postgres from 'postgres';
import { ContactChangeListener, CONTACTS_CHANGED_CHANNEL } from '../worker/contact-changes';
import { migrateDatabase } from '../db/migrate';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { createLogger } from '../infra/logger';
import { freePort } from './processes';

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pglite-listen-'));
  const pg = await startEmbeddedPostgres({ dataDir, port: await freePort() });
  const received: string[] = [];
  const listener = postgres(pg.url, { max: 1, onnotice: () => undefined });
  const crm = postgres(pg.url, { max: 1, onnotice: () => undefined });
  try {
    await migrateDatabase(pg.url);
    let listening = false;
    await listener.listen(
      CONTACTS_CHANGED_CHANNEL,
      (payload) => received.push(payload),
      () => (listening = true),
    );
    await crm`insert into contacts (campaign_name, phone_number) values ('pglite-check', '+15005550101')`;
    // the trigger's notification, and one sent by hand: does anything cross connections at all?
    await crm`select pg_notify(${CONTACTS_CHANGED_CHANNEL}, 'by-hand')`;
    await new Promise((r) => setTimeout(r, 3000));

    // the poll, with a Temporal client that only records the refill signals
    const polled: string[] = [];
    const temporal = {
      workflow: { getHandle: (id: string) => ({ signal: async () => void polled.push(id) }) },
    } as unknown as Client;
    const poll = new ContactChangeListener({
      databaseUrl: pg.url,
      temporal,
      logger: createLogger('warn', 'check'),
      mode: 'poll',
    });
    await poll.start();
    await new Promise((r) => setTimeout(r, 1500));
    await crm`insert into contacts (campaign_name, phone_number) values ('pglite-poll', '+15005550102')`;
    await new Promise((r) => setTimeout(r, 3000));
    await poll.stop();
    console.log(JSON.stringify({ listening, received, polled }));
  } finally {
    await listener.end({ timeout: 1 });
    await crm.end({ timeout: 1 });
    await pg.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
