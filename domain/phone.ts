import {
  type CountryCode,
  ParseError,
  parsePhoneNumberFromString,
  parsePhoneNumberWithError,
} from 'libphonenumber-js';

/**
 * Normalises a number as the CRM wrote it to E.164, or returns null when it cannot be a phone
 * number. "Possible" (right length for its country) rather than "valid": the library's
 * numbering-plan metadata lags behind real allocations, and Twilio has the last word.
 *
 * Lenient, for rows the CRM already wrote (dialing, duplicate checks): text around the number is
 * ignored. New numbers go through `strictE164`.
 */
export function toE164(raw: string | null | undefined, defaultRegion: string): string | null {
  if (!raw || !raw.trim()) return null;
  const parsed = parsePhoneNumberFromString(raw.trim(), defaultRegion as CountryCode);
  if (!parsed || !parsed.isPossible()) return null;
  return parsed.number;
}

/**
 * A new number (import, API) in E.164, or why not. The whole text must be the number: trailing
 * characters (`+15005550101x`) are refused rather than dropped, and so is an extension
 * (`+15005550101 ext. 5`): the dialer cannot dial one, and dropping it would silently make two
 * contacts one number.
 */
export function strictE164(
  raw: string | undefined,
  defaultRegion: string,
): { e164: string; problem?: undefined } | { e164?: undefined; problem: string } {
  const text = raw?.trim() ?? '';
  if (!text) return { problem: 'is empty: a phone number is required' };
  if (text.length > 64) return { problem: 'is not a phone number (too long)' };
  try {
    const parsed = parsePhoneNumberWithError(text, {
      defaultCountry: defaultRegion as CountryCode,
      extract: false,
    });
    if (parsed.ext)
      return { problem: 'has an extension: give the number alone, in E.164 (e.g. +15005550101)' };
    if (!parsed.isPossible()) return { problem: 'is not a phone number (wrong length for its country)' };
    return { e164: parsed.number };
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return { problem: 'is not a phone number (only digits, spaces, "+", "-", "." and brackets)' };
  }
}
