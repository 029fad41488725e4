/**
 * The console's charts, drawn as inline SVG on the server: no script, no library, readable
 * without colour (every bar is labelled with its name and number, and each colour's meaning is
 * written next to it). Pure.
 */
import type { LastStateName } from '../../domain/contract';
import { type Html, html } from './html';

/** What an outcome means for the campaign, told by colour and by the word after its name. */
export type Tone = 'reached' | 'not-put-through' | 'retry' | 'final' | 'not-dialed';

const TONES: Record<Tone, string> = {
  reached: 'reached',
  'not-put-through': 'answered, not put through',
  retry: 'not reached',
  final: 'not to be dialed',
  'not-dialed': 'not dialed yet',
};

/** The tone of a LastState (contract §4), 'none' being a contact not dialed yet. */
export function toneOf(state: LastStateName | 'none'): Tone {
  switch (state) {
    case 'Connected':
    case 'AgentHangUp':
      return 'reached';
    case 'NoAgent':
    case 'AgentTransfer':
    case 'TransferTimeout':
    case 'Abandoned':
      return 'not-put-through';
    case 'WrongNumber':
    case 'Banned':
      return 'final';
    case 'none':
      return 'not-dialed';
    default:
      return 'retry';
  }
}

const ROW = 26;
const LABEL_W = 250;
const BAR_W = 300;

/** Contacts per outcome as horizontal bars, each with its name, meaning and count. */
export function outcomeChart(outcomes: { state: LastStateName | 'none'; contacts: number }[]): Html {
  if (outcomes.length === 0) return html`<p class="empty">No contacts yet.</p>`;
  const max = Math.max(1, ...outcomes.map((o) => o.contacts));
  const height = outcomes.length * ROW + 4;
  const label = (o: (typeof outcomes)[number]) =>
    `${o.state === 'none' ? 'Not dialed' : o.state} (${TONES[toneOf(o.state)]})`;
  const summary = outcomes.map((o) => `${label(o)}: ${o.contacts}`).join('; ');
  const rows = outcomes.map((o, i) => {
    const y = i * ROW + 2;
    const w = Math.max(o.contacts > 0 ? 2 : 0, Math.round((o.contacts / max) * BAR_W));
    return html`<g class="tone-${toneOf(o.state)}">
      <text x="0" y="${y + 17}" class="label">${label(o)}</text>
      <rect x="${LABEL_W}" y="${y + 4}" width="${w}" height="${ROW - 8}" rx="2"></rect>
      <text x="${LABEL_W + w + 6}" y="${y + 17}" class="value">${o.contacts}</text>
    </g>`;
  });
  return html`<svg
    class="chart outcomes"
    viewBox="0 0 ${LABEL_W + BAR_W + 60} ${height}"
    role="img"
    aria-label="Contacts by outcome: ${summary}"
    preserveAspectRatio="xMinYMin meet"
  >
    ${rows}
  </svg>`;
}

const MINUTE = 60_000;

/** One count per minute from `since` up to `now` (the minute now included), zero where none. */
export function perMinuteSeries(
  rows: { minute: string; dials: number }[],
  since: Date,
  now: Date,
): { minute: Date; dials: number }[] {
  const byMinute = new Map(rows.map((r) => [Math.floor(Date.parse(r.minute) / MINUTE), r.dials]));
  const out: { minute: Date; dials: number }[] = [];
  for (let m = Math.floor(since.getTime() / MINUTE) + 1; m <= Math.floor(now.getTime() / MINUTE); m++) {
    out.push({ minute: new Date(m * MINUTE), dials: byMinute.get(m) ?? 0 });
  }
  return out;
}

const hhmm = (d: Date) => d.toISOString().slice(11, 16);

/** Dials per minute as vertical bars, the time (UTC) under every fifth minute. */
export function dialsChart(series: { minute: Date; dials: number }[]): Html {
  const total = series.reduce((a, s) => a + s.dials, 0);
  const peak = series.reduce((a, s) => (s.dials > a.dials ? s : a), { minute: new Date(0), dials: 0 });
  const max = Math.max(1, peak.dials);
  const [W, H, BOTTOM, LEFT, RIGHT] = [620, 160, 20, 40, 20];
  const step = (W - LEFT - RIGHT) / Math.max(1, series.length);
  const bars = series.map((s, i) => {
    const h = Math.round((s.dials / max) * (H - BOTTOM - 10));
    const x = LEFT + i * step;
    const tick =
      s.minute.getUTCMinutes() % 5 === 0
        ? html`<text x="${x + step / 2}" y="${H - 4}" class="axis" text-anchor="middle"
            >${hhmm(s.minute)}</text
          >`
        : '';
    return html`<rect x="${x + 1}" y="${H - BOTTOM - h}" width="${Math.max(1, step - 2)}" height="${h}">
        <title>${hhmm(s.minute)} UTC: ${s.dials} dials</title></rect
      >${tick}`;
  });
  const label =
    `Dials per minute over the last ${series.length} minutes: ${total} in all` +
    (peak.dials > 0 ? `, at most ${peak.dials} (at ${hhmm(peak.minute)} UTC)` : '');
  return html`<svg class="chart dials" viewBox="0 0 ${W} ${H}" role="img" aria-label="${label}">
      <text x="0" y="12" class="axis">${max}</text>
      <text x="0" y="${H - BOTTOM}" class="axis">0</text>
      <line x1="${LEFT}" y1="${H - BOTTOM}" x2="${W - RIGHT}" y2="${H - BOTTOM}" class="baseline"></line>
      ${bars}
    </svg>
    <p class="chart-note">${label}. Times in UTC.</p>`;
}

/** The legend of the outcome colours, in words. */
export function toneLegend(): Html {
  return html`<ul class="legend">
    ${(Object.keys(TONES) as Tone[]).map((t) => html`<li class="tone-${t}"><span class="swatch" aria-hidden="true"></span>${TONES[t]}</li>`)}
  </ul>`;
}
