/** Contract §8: which CRM redials a running campaign writes, and which redial requests are well formed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RedialRow, decideRedial } from '../domain/redial-rules';
import { LastState, checkRedialRequest } from '../domain/contract';

const o = { campaign: 'spring', holder: 'campaign/spring', maxAttempts: 3 };
const row = (r: Partial<RedialRow> = {}): RedialRow => ({
  campaign_name: 'spring',
  contact_successful: 1,
  number_of_contacts: 1,
  cached_by: null,
  last_state: LastState.Connected,
  phone_number: '+15005550101',
  ...r,
});

test('a contact of the campaign with attempts left becomes a redial (after success, failure or never dialed)', () => {
  for (const cs of [0, 1, 2])
    assert.deepEqual(decideRedial(row({ contact_successful: cs }), o), { write: 'row' });
  assert.deepEqual(decideRedial(row({ contact_successful: 3, cached_by: o.holder }), o), { write: 'time' });
});

test('refused: unknown, another campaign, none, held elsewhere, Unreachable, out of attempts, no number', () => {
  const refused = (r: RedialRow | undefined) => {
    const d = decideRedial(r, o);
    assert.ok('refused' in d, JSON.stringify(r));
    return d.refused;
  };
  assert.match(refused(undefined), /no contact with this id/);
  assert.match(refused(row({ campaign_name: 'autumn' })), /belongs to campaign "autumn"/);
  assert.match(refused(row({ campaign_name: null })), /belongs to no campaign/);
  assert.match(
    refused(row({ contact_successful: 3, cached_by: 'campaign/other' })),
    /in the cache of campaign\/other/,
  );
  assert.match(
    refused(row({ contact_successful: -1, last_state: LastState.Banned })),
    /Unreachable \(-1, last state Banned\)/,
  );
  assert.match(refused(row({ number_of_contacts: 3 })), /has had 3 of 3 attempts/);
  assert.match(refused(row({ phone_number: '  ' })), /no phone number/);
});

test('a redial request from the CRM or the Temporal UI: a positive id and a real ISO time with a zone', () => {
  assert.deepEqual(checkRedialRequest({ contactId: 7, at: '2026-12-01T09:30:00+01:00' }), {
    contactId: 7,
    at: '2026-12-01T08:30:00.000Z',
  });
  const bad: unknown[] = [
    null,
    'redial',
    {},
    { contactId: '7', at: '2026-12-01T09:30:00Z' },
    { contactId: 0, at: '2026-12-01T09:30:00Z' },
    { contactId: 1.5, at: '2026-12-01T09:30:00Z' },
    { contactId: 2 ** 64, at: '2026-12-01T09:30:00Z' },
    { contactId: 7 },
    { contactId: 7, at: '2026-12-01 09:30' },
    { contactId: 7, at: '2026-12-01T09:30:00' },
    { contactId: 7, at: '2026-02-30T09:30:00Z' },
    { contactId: 7, at: '+100000000d' },
    { contactId: 7, at: '9999-12-01T09:30:00Z' },
  ];
  for (const b of bad) assert.equal(typeof checkRedialRequest(b), 'string', JSON.stringify(b));
});
