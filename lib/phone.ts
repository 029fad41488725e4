import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

/**
 * Normalises a number as the CRM wrote it to E.164, or returns null when it cannot be a phone
 * number. "Possible" (right length for its country) rather than "valid": the library's
 * numbering-plan metadata lags behind real allocations, and Twilio has the last word.
 */
export function toE164(raw: string | null | undefined, defaultRegion: string): string | null {
  if (!raw || !raw.trim()) return null;
  const parsed = parsePhoneNumberFromString(raw.trim(), defaultRegion as CountryCode);
  if (!parsed || !parsed.isPossible()) return null;
  return parsed.number;
}
