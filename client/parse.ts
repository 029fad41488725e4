import { InvalidArgumentError } from 'commander';
import { type LastStateName, lastStateNames, type RetryRules } from '../domain/contract';
import { isTimeZone, parseCallingWindow } from '../domain/calling-window';
import { parseDuration } from '../domain/time-text';

/** A duration argument: a text that is not one is commander's usage error. */
export const durationArg = (v: string): number => {
  try {
    return parseDuration(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`"${v}" is not a whole number`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is out of range (${min}–${max})`);
    return n;
  };
}

export function positiveNumberArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`"${v}" is not a positive number`);
  return n;
}

/** Campaign names end up in workflow ids (campaign/<name>) and URLs: keep them plain. */
export function campaignNameArg(v: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$/.test(v)) {
    throw new InvalidArgumentError(
      `"${v}" is not a valid campaign name: use letters, digits, space, "_", "." and "-" (at most 100)`,
    );
  }
  return v;
}

export function e164Arg(v: string): string {
  if (!/^\+[1-9]\d{6,14}$/.test(v)) {
    throw new InvalidArgumentError(`"${v}" is not a phone number in E.164 form (e.g. +15005550006)`);
  }
  return v;
}

export function lastStateArg(v: string): LastStateName {
  const found = lastStateNames.find((n) => n.toLowerCase() === v.trim().toLowerCase());
  if (!found)
    throw new InvalidArgumentError(`"${v}" is not a LastState; one of: ${lastStateNames.join(', ')}`);
  return found;
}

/** --retry Busy=5m --retry default=15m, collected into RetryRules.delaySeconds / defaultDelaySeconds. */
export function retryArg(v: string, acc: Record<string, number> = {}): Record<string, number> {
  const m = /^([A-Za-z]+)=(.+)$/.exec(v.trim());
  if (!m)
    throw new InvalidArgumentError(
      `"${v}" should look like <LastState>=<delay>, e.g. Busy=5m or default=15m`,
    );
  const key = m[1]!.toLowerCase() === 'default' ? 'default' : lastStateArg(m[1]!);
  return { ...acc, [key]: durationArg(m[2]!) / 1000 };
}

export function finalArg(v: string, acc: LastStateName[] = []): LastStateName[] {
  return [...acc, ...v.split(',').filter(Boolean).map(lastStateArg)];
}

export function applyRetryOptions(
  base: RetryRules,
  retry: Record<string, number> | undefined,
  final: LastStateName[] | undefined,
): RetryRules {
  const { default: def, ...perState } = retry ?? {};
  return {
    defaultDelaySeconds: def ?? base.defaultDelaySeconds,
    delaySeconds: { ...base.delaySeconds, ...perState },
    final: final ? [...new Set<LastStateName>(['WrongNumber', 'Banned', ...final])] : base.final,
  };
}

/** A calling window in words (domain/calling-window.ts); what is wrong is named with its entry. */
export function windowArg(v: string): string {
  const parsed = parseCallingWindow(v);
  if (!parsed.ok) throw new InvalidArgumentError(parsed.error);
  return v.trim();
}

/** What clears a setting (commander turns a parser's null into ''). */
export const NONE = 'none';
/** null for NONE, else the value. */
export const orNull = <T>(v: T | typeof NONE): T | null => (v === NONE ? null : v);

/** An IANA time zone (Europe/Berlin), or "none" to clear it. */
export function zoneArg(v: string): string {
  if (v.trim().toLowerCase() === NONE) return NONE;
  if (!isTimeZone(v.trim()))
    throw new InvalidArgumentError(`"${v}" is not an IANA time zone (e.g. America/New_York)`);
  return v.trim();
}

/** A cap: a whole number of at least 1, or "none" for no cap. */
export function capArg(v: string): number | typeof NONE {
  if (v.trim().toLowerCase() === NONE) return NONE;
  return intArg(1, 1000)(v);
}

/** A duration (90s, 5m, 2h), or "none"; in whole seconds. */
export function gapArg(v: string): number | typeof NONE {
  if (v.trim().toLowerCase() === NONE) return NONE;
  return Math.round(durationArg(v) / 1000);
}

/** Calls per agent for power mode: a number from 1 to 10. */
export function ratioArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 1 || n > 10)
    throw new InvalidArgumentError(`"${v}" is not a number from 1 to 10`);
  return n;
}

/** A percentage above 0 and below 100 ("3", "2.5%"), as a fraction. */
export function percentArg(v: string): number {
  const n = Number(v.trim().replace(/%$/, ''));
  if (!Number.isFinite(n) || n <= 0 || n >= 100)
    throw new InvalidArgumentError(`"${v}" is not a percentage above 0 and below 100`);
  return n / 100;
}
