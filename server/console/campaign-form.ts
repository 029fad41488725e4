/**
 * The campaign form: its fields, how each one's text becomes a setting (every field is checked,
 * and every wrong one named next to it), and the form as HTML. Pure: the routes are in
 * campaign-edit.ts.
 */
import { isTimeZone, parseCallingWindow } from '../../domain/calling-window';
import { DIALING_MODES } from '../../domain/pacing';
import { parseDuration } from '../../domain/time-text';
import { maskPhone } from '../../infra/logger';
import type { CampaignChanges } from '../../ops/campaign-operations';
import { type Html, csrfField, html } from './html';

export type FormMode = 'create' | 'edit';
export type SettingKey = keyof CampaignChanges | 'name';
/** The form's texts by field (what the operator typed, shown again with the errors). */
export type FormTexts = Partial<Record<SettingKey, string>>;
export type FieldErrors = Partial<Record<SettingKey, string>>;

class FieldError extends Error {}

type Input =
  | { type: 'text' | 'number'; attrs?: Record<string, string> }
  | { type: 'textarea' }
  | { type: 'checkbox' }
  | { type: 'select'; options: readonly string[] };

interface Field {
  key: SettingKey;
  label: string;
  hint?: string;
  input: Input;
  parse(text: string): unknown;
  show(value: unknown): string;
  /** The text a new campaign's form starts with (the column's default). */
  initial: string;
}

const whole = (min: number, max: number) => (t: string) => {
  if (!/^\d+$/.test(t.trim())) throw new FieldError(`“${t}” is not a whole number`);
  const n = Number(t);
  if (n < min || n > max) throw new FieldError(`${n} is out of range (${min}–${max})`);
  return n;
};
const optional = (parse: (t: string) => unknown) => (t: string) => (t.trim() === '' ? null : parse(t));
const str = (v: unknown) => (v === null || v === undefined ? '' : String(v));

function positive(t: string): number {
  const n = Number(t);
  if (t.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new FieldError(`“${t}” is not a positive number`);
  return n;
}

function ratio(t: string): number {
  const n = Number(t);
  if (t.trim() === '' || !Number.isFinite(n) || n < 1 || n > 10)
    throw new FieldError(`“${t}” is not a number from 1 to 10`);
  return n;
}

function percentText(t: string): number {
  const n = Number(t.trim().replace(/%$/, ''));
  if (t.trim() === '' || !Number.isFinite(n) || n <= 0 || n >= 100)
    throw new FieldError(`“${t}” is not a percentage above 0 and below 100`);
  return n / 100;
}

/** The CLI's rule for names (client/parse.ts): they end up in workflow ids and URLs. */
function campaignName(t: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$/.test(t.trim()))
    throw new FieldError(
      'use letters, digits, space, “_”, “.” and “-” (at most 100), starting with a letter or digit',
    );
  return t.trim();
}

function e164(t: string): string {
  if (!/^\+[1-9]\d{6,14}$/.test(t.trim()))
    throw new FieldError('not a phone number in E.164 form (e.g. +15005550006)');
  return t.trim();
}

function callingWindow(t: string): string {
  const parsed = parseCallingWindow(t);
  if (!parsed.ok) throw new FieldError(parsed.error);
  return t.trim();
}

function zone(t: string): string {
  if (!isTimeZone(t.trim())) throw new FieldError(`“${t}” is not an IANA time zone (e.g. America/New_York)`);
  return t.trim();
}

function gapSeconds(t: string): number {
  try {
    return Math.round(parseDuration(t) / 1000);
  } catch (err) {
    throw new FieldError((err as Error).message);
  }
}

function oneOf(options: readonly string[]) {
  return (t: string) => {
    if (!options.includes(t)) throw new FieldError(`choose one of ${options.join(', ')}`);
    return t;
  };
}

function text(max: number, required: boolean) {
  return (t: string) => {
    if (required && t.trim() === '') throw new FieldError('must not be empty');
    if (t.length > max) throw new FieldError(`at most ${max} characters`);
    return required || t.trim() !== '' ? t.trim() : null;
  };
}

const num = (attrs: Record<string, string> = {}) => ({ type: 'number' as const, attrs });

/** The fields in the order the form shows them, grouped under legends. */
export const FIELD_GROUPS: { legend: string; fields: Field[] }[] = [
  {
    legend: 'Campaign',
    fields: [
      {
        key: 'name',
        label: 'Name',
        hint: 'Letters, digits, space, “_”, “.” and “-”; the contacts’ campaign_name.',
        input: { type: 'text', attrs: { maxlength: '100', autocomplete: 'off' } },
        parse: campaignName,
        show: str,
        initial: '',
      },
      {
        key: 'callerId',
        label: 'Caller id',
        hint: 'The number calls come from, in E.164.',
        input: { type: 'text', attrs: { inputmode: 'tel', autocomplete: 'off' } },
        parse: e164,
        show: str,
        initial: '',
      },
    ],
  },
  {
    legend: 'Capacity',
    fields: [
      {
        key: 'lines',
        label: 'Lines',
        hint: 'Calls in flight at most.',
        input: num({ min: '1', max: '10000', step: '1' }),
        parse: whole(1, 10_000),
        show: str,
        initial: '5',
      },
      {
        key: 'callsPerSecond',
        label: 'Calls per second',
        input: num({ min: '0.01', step: 'any' }),
        parse: positive,
        show: str,
        initial: '1',
      },
      {
        key: 'maxAttempts',
        label: 'Attempts per contact',
        input: num({ min: '1', max: '1000', step: '1' }),
        parse: whole(1, 1000),
        show: str,
        initial: '3',
      },
      {
        key: 'ringTimeoutSeconds',
        label: 'Ring timeout (seconds)',
        input: num({ min: '15', max: '600', step: '1' }),
        parse: whole(15, 600),
        show: str,
        initial: '30',
      },
    ],
  },
  {
    legend: 'Pacing',
    fields: [
      {
        key: 'dialingMode',
        label: 'Dialing mode',
        input: { type: 'select', options: DIALING_MODES },
        parse: oneOf(DIALING_MODES),
        show: str,
        initial: 'progressive',
      },
      {
        key: 'callsPerAgent',
        label: 'Calls per free agent (power mode)',
        input: num({ min: '1', max: '10', step: 'any' }),
        parse: ratio,
        show: str,
        initial: '1',
      },
      {
        key: 'abandonTarget',
        label: 'Abandon target (%)',
        hint: 'Predictive mode stays under it; both abandon rates are marked above it.',
        input: num({ min: '0.1', max: '99', step: 'any' }),
        parse: percentText,
        show: (v) => (v === null || v === undefined ? '' : String(Math.round(Number(v) * 10_000) / 100)),
        initial: '3',
      },
    ],
  },
  {
    legend: 'When to call',
    fields: [
      {
        key: 'callingWindow',
        label: 'Calling window',
        hint: 'In the callee’s local time, e.g. “mon-fri 09:00-20:00; sat 10:00-16:00; holidays US”.',
        input: { type: 'text', attrs: { autocomplete: 'off' } },
        parse: callingWindow,
        show: str,
        initial: 'daily 08:00-21:00',
      },
      {
        key: 'timeZone',
        label: 'Time zone when the callee’s is unknown',
        hint: 'IANA, e.g. America/New_York; empty: such callees are not dialed.',
        input: { type: 'text', attrs: { autocomplete: 'off' } },
        parse: optional(zone),
        show: str,
        initial: '',
      },
      {
        key: 'maxAttemptsPerDay',
        label: 'Attempts per contact per day',
        hint: 'Empty: no cap.',
        input: num({ min: '1', max: '1000', step: '1' }),
        parse: optional(whole(1, 1000)),
        show: str,
        initial: '',
      },
      {
        key: 'maxAttemptsPer24h',
        label: 'Attempts per contact in any 24 h',
        hint: 'Empty: no cap.',
        input: num({ min: '1', max: '1000', step: '1' }),
        parse: optional(whole(1, 1000)),
        show: str,
        initial: '',
      },
      {
        key: 'minAttemptGapSeconds',
        label: 'Least time between attempts',
        hint: 'e.g. 4h or 90m; empty: none.',
        input: { type: 'text', attrs: { autocomplete: 'off' } },
        parse: optional(gapSeconds),
        show: (v) => (v === null || v === undefined ? '' : `${String(v)}s`),
        initial: '',
      },
      {
        key: 'abandonCooloff',
        label: 'No redial within 72 h of an abandoned call',
        input: { type: 'checkbox' },
        parse: (t) => t === 'on',
        show: (v) => (v ? 'on' : ''),
        initial: '',
      },
    ],
  },
  {
    legend: 'What callees hear',
    fields: [
      {
        key: 'message',
        label: 'Message when no agent takes the call',
        input: { type: 'textarea' },
        parse: text(2000, true),
        show: str,
        initial: 'Hello. This is a call from our contact center. We will call you back. Goodbye.',
      },
      {
        key: 'machineDetection',
        label: 'Answering machines',
        hint: 'off, hangup (on a machine or fax), or message (leave the machine message).',
        input: { type: 'select', options: ['off', 'hangup', 'message'] },
        parse: oneOf(['off', 'hangup', 'message']),
        show: str,
        initial: 'off',
      },
      {
        key: 'machineMessage',
        label: 'Machine message',
        input: { type: 'textarea' },
        parse: text(2000, false),
        show: str,
        initial: '',
      },
    ],
  },
  {
    legend: 'Agents',
    fields: [
      {
        key: 'transferTimeoutSeconds',
        label: 'Transfer timeout (seconds)',
        input: num({ min: '5', max: '600', step: '1' }),
        parse: whole(5, 600),
        show: str,
        initial: '20',
      },
      {
        key: 'wrapUpSeconds',
        label: 'Wrap-up (seconds)',
        input: num({ min: '0', max: '3600', step: '1' }),
        parse: whole(0, 3600),
        show: str,
        initial: '10',
      },
    ],
  },
];

const FIELDS = FIELD_GROUPS.flatMap((g) => g.fields);

/** The fields a mode shows: a campaign's name is set once. */
const fieldsOf = (mode: FormMode) => FIELDS.filter((f) => mode === 'create' || f.key !== 'name');

export type ParsedForm =
  { ok: true; values: Partial<Record<SettingKey, unknown>> } | { ok: false; errors: FieldErrors };

/**
 * The settings a submitted form asks for, or what is wrong with each field. In edit mode an empty
 * caller id keeps the current one (the form does not show the number).
 */
export function parseCampaignForm(body: Record<string, unknown>, mode: FormMode): ParsedForm {
  const values: Partial<Record<SettingKey, unknown>> = {};
  const errors: FieldErrors = {};
  for (const f of fieldsOf(mode)) {
    const raw = body[f.key];
    const t = typeof raw === 'string' ? raw : '';
    if (mode === 'edit' && f.key === 'callerId' && t.trim() === '') continue;
    try {
      values[f.key] = f.parse(t);
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      errors[f.key] = err.message;
    }
  }
  if (values.machineDetection === 'message' && !values.machineMessage && !errors.machineMessage)
    errors.machineMessage = 'answering machines “message” needs a machine message';
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, values };
}

/** The settings that differ from the campaign's current ones (compared as the form shows them). */
export function changedSettings(
  values: Partial<Record<SettingKey, unknown>>,
  current: Record<string, unknown>,
): CampaignChanges {
  const changed: Record<string, unknown> = {};
  for (const f of FIELDS) {
    if (f.key === 'name' || !(f.key in values)) continue;
    if (f.show(values[f.key]) !== f.show(current[f.key])) changed[f.key] = values[f.key];
  }
  return changed as CampaignChanges;
}

/** The form's texts for a campaign as it is now (edit) or for a new one (create). */
export function formTexts(current: Record<string, unknown> | undefined): FormTexts {
  const texts: FormTexts = {};
  for (const f of FIELDS) texts[f.key] = current ? f.show(current[f.key]) : f.initial;
  if (current) texts.callerId = '';
  return texts;
}

function control(
  f: Field,
  value: string,
  o: { error?: string; describedBy: string; required: boolean },
): Html {
  const id = `f-${f.key}`;
  const aria = html` aria-describedby="${o.describedBy}"${o.error ? html` aria-invalid="true"` : ''}`;
  const i = f.input;
  if (i.type === 'textarea')
    return html`<textarea id="${id}" name="${f.key}" rows="3" ${aria}>${value}</textarea>`;
  if (i.type === 'checkbox')
    return html`<input
      id="${id}"
      name="${f.key}"
      type="checkbox"
      ${value === 'on' ? html` checked` : ''}${aria}
    />`;
  if (i.type === 'select')
    return html`<select id="${id}" name="${f.key}" ${aria}>
      ${i.options.map((opt) => html`<option${opt === value ? html` selected` : ''}>${opt}</option>`)}
    </select>`;
  const attrs = Object.entries(i.attrs ?? {}).map(([k, v]) => html` ${k}="${v}"`);
  return html`<input
    id="${id}"
    name="${f.key}"
    type="${i.type}"
    value="${value}"
    ${attrs}${o.required ? html` required` : ''}${aria}
  />`;
}

function fieldRow(f: Field, mode: FormMode, texts: FormTexts, errors: FieldErrors, callerId?: string): Html {
  const hintId = `h-${f.key}-${mode}`;
  const hint =
    mode === 'edit' && f.key === 'callerId'
      ? `Now ${maskPhone(callerId)}; leave empty to keep it, or type a new number in E.164.`
      : f.hint;
  const error = errors[f.key];
  return html`<div class="field${f.input.type === 'checkbox' ? ' check' : ''}${error ? ' invalid' : ''}">
    <label for="f-${f.key}">${f.label}</label>
    ${control(f, texts[f.key] ?? '', { error, describedBy: hintId, required: f.key === 'name' || (f.key === 'callerId' && mode === 'create') })}
    <p class="hint" id="${hintId}">
      ${error ? html`<strong class="error">${error}</strong> ` : ''}${hint ?? ''}
    </p>
  </div>`;
}

/** The form itself: its fieldsets, a summary of what is wrong, and its one button. */
export function campaignForm(o: {
  mode: FormMode;
  action: string;
  csrf: string;
  texts: FormTexts;
  errors: FieldErrors;
  /** edit: the current caller id, shown masked. */
  callerId?: string;
  refusal?: string;
}): Html {
  const wrong = Object.keys(o.errors).length;
  const summary =
    o.refusal ?? (wrong ? `${wrong} field${wrong > 1 ? 's are' : ' is'} not right: see below.` : '');
  return html`${summary ? html`<p class="notice error" role="alert">${summary}</p>` : ''}
    <form method="post" action="${o.action}" class="campaign-form" novalidate>
      ${csrfField(o.csrf)}
      ${FIELD_GROUPS.map(
        (g) =>
          html`<fieldset>
            <legend>${g.legend}</legend>
            ${g.fields.filter((f) => o.mode === 'create' || f.key !== 'name').map((f) => fieldRow(f, o.mode, o.texts, o.errors, o.callerId))}
          </fieldset>`,
      )}
      <p class="hint">
        Retry rules (the delay before a redial per outcome) keep their defaults here; change them with
        <code>dialer campaign update --retry</code>.
      </p>
      <button type="submit">${o.mode === 'create' ? 'Create campaign' : 'Save changes'}</button>
    </form>`;
}
