import fs from 'node:fs';
import path from 'node:path';
import { newPayloadKeyEntry } from './payload-codec';

/**
 * A developer machine's payload key (`dialer dev`, `dialer demo` without DIALER_PAYLOAD_KEYS):
 * one key kept in <data folder>/payload-keys, created on first use (readable by its owner only)
 * and reused afterwards, so that histories written earlier still decrypt. Returns the file's
 * DIALER_PAYLOAD_KEYS text and where it is.
 */
export function devPayloadKeys(dataDir: string): { text: string; file: string } {
  const file = path.join(dataDir, 'payload-keys');
  try {
    return { text: fs.readFileSync(file, 'utf8').trim(), file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const text = newPayloadKeyEntry(`dev-${new Date().toISOString().slice(0, 10)}`);
  try {
    fs.writeFileSync(file, `${text}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // another dev process created it meanwhile: theirs is the key
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { text: fs.readFileSync(file, 'utf8').trim(), file };
  }
  return { text, file };
}
