/**
 * The console's HTML: a tagged template that escapes every value put into it (only `Html` built
 * by this module goes in as it is), and the page around each screen. Pure: no I/O.
 */

/** Markup that is already safe: made by `html` from escaped parts. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type Part = Html | string | number | boolean | null | undefined | readonly Part[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text made safe for an element's content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(part: Part): string {
  if (part === null || part === undefined || part === false || part === true) return '';
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

/** html`<p>${text}</p>`: every value escaped, arrays joined, null/undefined/booleans dropped. */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Html(out);
}

/** A path segment of the console's URLs (campaign names may hold spaces and dots). */
export const seg = (text: string) => encodeURIComponent(text);

/** The console's URL of one campaign. */
export const campaignPath = (name: string, rest = '') => `/console/campaigns/${seg(name)}${rest}`;

/**
 * An element id from any text (ids must not hold spaces): kept stable across polls, so that htmx
 * gives the focus back to the control that had it after a swap.
 */
export function idFor(prefix: string, text: string): string {
  return `${prefix}-${Buffer.from(text, 'utf8').toString('hex')}`;
}

/**
 * htmx's settings: 4xx answers (a refusal with its text) are swapped in like 2xx ones, the
 * indicator styles are not injected (the Content-Security-Policy allows no inline style).
 */
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  responseHandling: [
    { code: '204', swap: false },
    { code: '[23]..', swap: true },
    { code: '4..', swap: true, error: false },
    { code: '...', swap: false, error: true },
  ],
});

export interface PageOptions {
  title: string;
  /** The session's CSRF token: sent by htmx with every request (hx-headers) and shown in forms. */
  csrf?: string;
  /** Which entry of the navigation is this page's. */
  nav?: 'campaigns' | 'contacts' | 'dnc' | 'agents';
  body: Html;
}

/** The navigation: the console's screens. */
function navigation(o: PageOptions): Html {
  if (o.csrf === undefined) return html``;
  const current = (which: PageOptions['nav']) => (o.nav === which ? html` aria-current="page"` : '');
  return html`<nav aria-label="Console">
    <ul>
      <li><a href="/console" ${current('campaigns')}>Campaigns</a></li>
      <li><a href="/console/contacts" ${current('contacts')}>Contacts</a></li>
      <li><a href="/console/dnc" ${current('dnc')}>Do-not-call</a></li>
      <li><a href="/console/agents" ${current('agents')}>Agents</a></li>
    </ul>
    <form method="post" action="/console/sign-out" class="sign-out">
      ${csrfField(o.csrf)}
      <button type="submit">Sign out</button>
    </form>
  </nav>`;
}

/** A whole page. */
export function page(o: PageOptions): string {
  const headers = o.csrf === undefined ? '' : JSON.stringify({ 'X-CSRF-Token': o.csrf });
  return `<!doctype html>\n${
    html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>${o.title} · Dialer console</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/htmx.min.js" defer></script>
<script src="/console/assets/console.js" defer></script>
</head>
<body${headers ? html` hx-headers="${headers}"` : ''}>
<header class="top">
  <a class="brand" href="/console">Dialer console</a>
  ${navigation(o)}
</header>
<main id="main">
${o.body}
</main>
</body>
</html>`.text
  }\n`;
}

/** The hidden CSRF field of a form that works without JavaScript too. */
export const csrfField = (csrf: string) => html`<input type="hidden" name="_csrf" value="${csrf}" />`;

/** A message for the operator: a refusal (role alert) or what was done (role status). */
export function notice(message: { text: string; error: boolean } | undefined): Html {
  if (!message) return html``;
  return message.error
    ? html`<p class="notice error" role="alert">${message.text}</p>`
    : html`<p class="notice ok" role="status">${message.text}</p>`;
}

/** 0.025 → "2.5 %"; null → "—". */
export const percent = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)} %`);

/** An instant as the console shows it: UTC, to the second. */
export const timeText = (iso: string) => iso.replace('T', ' ').replace(/\.\d{3}Z$|Z$/, ' UTC');
