/**
 * The console's pages as text, without a server: what an operator or a CRM put in a name cannot
 * become markup, the campaign form names each wrong field and sends only what changed, the charts
 * tell every bar in words, and the calling window is read in the campaign's zone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { windowNow } from '../ops/campaign-board';
import { changedSettings, formTexts, parseCampaignForm } from '../server/console/campaign-form';
import { pacingText, temporalUiLink } from '../server/console/campaign-page';
import { dialsChart, outcomeChart, perMinuteSeries } from '../server/console/charts';
import { html, page } from '../server/console/html';
import { maskNumbersIn } from '../server/console/contact-page';
import { resultsTable } from '../server/console/contacts-page';
import { readSearch } from '../ops/contact-lookup';

test('values put into a page are escaped; only markup made by html`` goes in as it is', () => {
  const evil = `<script>alert("x")</script>' onmouseover='x`;
  const out = html`<p title="${evil}">${evil}</p>
    ${html`<b>ok</b>`}`.text;
  assert.ok(!out.includes('<script>'));
  assert.ok(!out.includes(`' onmouseover='`));
  assert.ok(out.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;x'));
  assert.ok(out.endsWith('<b>ok</b>'));
  const full = page({ title: evil, csrf: `"}'`, body: html`` });
  assert.ok(!full.includes('<script>alert'));
  assert.ok(full.includes('hx-headers="{&quot;X-CSRF-Token&quot;:&quot;\\&quot;}&#39;&quot;}"'));
});

const good = {
  name: 'spring sale',
  callerId: '+15005550006',
  lines: '5',
  callsPerSecond: '2.5',
  maxAttempts: '3',
  ringTimeoutSeconds: '30',
  dialingMode: 'progressive',
  callsPerAgent: '1',
  abandonTarget: '3',
  callingWindow: 'mon-fri 09:00-20:00',
  timeZone: 'Europe/Berlin',
  maxAttemptsPerDay: '',
  maxAttemptsPer24h: '2',
  minAttemptGapSeconds: '4h',
  message: 'Hello.',
  machineDetection: 'off',
  machineMessage: '',
  transferTimeoutSeconds: '20',
  wrapUpSeconds: '10',
};

test('the campaign form: a good one gives the settings, a bad one names each wrong field', () => {
  const ok = parseCampaignForm(good, 'create');
  assert.ok(ok.ok);
  assert.equal(ok.values.callsPerSecond, 2.5);
  assert.equal(ok.values.abandonTarget, 0.03);
  assert.equal(ok.values.maxAttemptsPerDay, null, 'empty: no cap');
  assert.equal(ok.values.minAttemptGapSeconds, 4 * 3600);
  assert.equal(ok.values.abandonCooloff, false, 'an unticked box is not sent');

  const bad = parseCampaignForm(
    {
      ...good,
      name: '-x',
      callerId: '0301234',
      lines: '0',
      callingWindow: 'someday',
      machineDetection: 'message',
    },
    'create',
  );
  assert.ok(!bad.ok);
  assert.deepEqual(Object.keys(bad.errors).sort(), [
    'callerId',
    'callingWindow',
    'lines',
    'machineMessage',
    'name',
  ]);
  assert.match(bad.errors.lines!, /out of range/);
});

test('editing sends only what changed; an empty caller id keeps the number', () => {
  const parsed = parseCampaignForm(good, 'create');
  assert.ok(parsed.ok);
  const current = { ...parsed.values };
  const texts = formTexts(current);
  assert.equal(texts.callerId, '', 'the edit form does not show the number');
  const again = parseCampaignForm({ ...texts, lines: '7' }, 'edit');
  assert.ok(again.ok);
  assert.deepEqual(changedSettings(again.values, current), { lines: 7 });
});

test('the outcome chart says every bar in words, the dials chart every minute', () => {
  const svg = outcomeChart([
    { state: 'Connected', contacts: 4 },
    { state: 'Busy', contacts: 2 },
    { state: 'none', contacts: 1 },
  ]).text;
  assert.match(
    svg,
    /aria-label="Contacts by outcome: Connected \(reached\): 4; Busy \(not reached\): 2; Not dialed \(not dialed yet\): 1"/,
  );
  assert.match(svg, />Connected \(reached\)</);

  const now = new Date('2026-03-01T10:29:30Z');
  const since = new Date(now.getTime() - 30 * 60_000);
  const series = perMinuteSeries([{ minute: '2026-03-01T10:20:00.000Z', dials: 7 }], since, now);
  assert.equal(series.length, 30);
  assert.equal(series.at(-1)!.minute.toISOString(), '2026-03-01T10:29:00.000Z');
  assert.equal(series.find((s) => s.dials > 0)!.minute.toISOString(), '2026-03-01T10:20:00.000Z');
  assert.match(dialsChart(series).text, /7 in all, at most 7 \(at 10:20 UTC\)/);
});

test('the calling window: open or closed in the campaign’s zone, per callee without one (unless always open)', () => {
  const noon = new Date('2026-03-02T11:00:00Z'); // a Monday, 12:00 in Berlin
  assert.deepEqual(windowNow('mon-fri 09:00-20:00', 'Europe/Berlin', noon).open, true);
  const night = windowNow('mon-fri 09:00-20:00', 'Europe/Berlin', new Date('2026-03-02T21:00:00Z'));
  assert.equal(night.open, false);
  assert.equal(night.opensAt, '2026-03-03T08:00:00.000Z');
  assert.equal(windowNow('daily 08:00-21:00', null, noon).open, null);
  assert.equal(windowNow('daily 00:00-24:00', null, noon).open, true, 'every hour: open in any zone');
  assert.equal(windowNow('daily 00:00-24:00; holidays US', null, noon).open, null);
});

test('pacing and the Temporal UI link in words', () => {
  assert.match(pacingText(undefined, 5), /No answer yet/);
  assert.equal(
    pacingText({ mode: 'progressive', capacity: null, callsPerFreeAgent: null }, 5),
    'progressive: no agents assigned, so up to its 5 lines.',
  );
  assert.equal(
    pacingText({ mode: 'predictive', capacity: 6, callsPerFreeAgent: 1.5, answerRate: 0.4 }, 5),
    'predictive: 6 calls in flight allowed, 1.5 calls per free agent, answer rate 40.0 %.',
  );
  assert.equal(
    temporalUiLink('http://127.0.0.1:8233/', 'default', 'spring sale'),
    'http://127.0.0.1:8233/namespaces/default/workflows?query=CampaignName%3D%22spring%20sale%22',
  );
  assert.equal(temporalUiLink(undefined, 'default', 'x'), undefined);
});

test('a contact search reads digits as an id and the number’s last digits, anything else as a name', () => {
  assert.deepEqual(readSearch(' 42 '), { id: 42 });
  assert.deepEqual(readSearch('555-0199'), { id: 5550199, digits: '5550199' });
  assert.deepEqual(readSearch('+1 500 555 0199'), { digits: '15005550199', id: 15005550199 });
  assert.deepEqual(readSearch('Ada Lovelace'), { name: 'Ada Lovelace' });
  assert.throws(() => readSearch('   '), /Type an id/);
  assert.throws(() => readSearch('0'), /at least 4 digits/);
});

test('the contacts list and the timeline show numbers masked only', () => {
  const out = resultsTable([
    {
      id: '7',
      campaign_name: 'c',
      phone_number: '+15005550199',
      name: 'Ada',
      contact_successful: 1,
      last_state: 1000,
    },
  ]).text;
  assert.ok(!out.includes('+15005550199') && !out.includes('5005550199'));
  assert.match(out, /\+1500\*+99/);
  assert.match(out, /Successful \(1\)/);
  assert.match(out, /Banned \(1000\)/);
  const reason = maskNumbersIn('skipped: 500 555-0199 is on the do-not-call list (+15005550199)');
  assert.ok(!/\d{5,}\D?\d{4}/.test(reason.replace(/\*/g, '')) && !reason.includes('5550199'), reason);
  assert.match(reason, /on the do-not-call list/);
  assert.equal(
    maskNumbersIn('call CA682275ba57234 created'),
    'call CA682275ba57234 created',
    'a SID left whole',
  );
});
