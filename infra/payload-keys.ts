import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { newPayloadKeyEntry } from './payload-codec';

/**
 * A secret kept in <data folder>/<name>, created by `make` on first use (readable by its owner
 * only) and reused afterwards. Two processes creating it at once agree on the first one written.
 */
function keptSecret(dataDir: string, name: string, make: () => string): { text: string; file: string } {
  const file = path.join(dataDir, name);
  try {
    return { text: fs.readFileSync(file, 'utf8').trim(), file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const text = make();
  try {
    fs.writeFileSync(file, `${text}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // another dev process created it meanwhile: theirs is the secret
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { text: fs.readFileSync(file, 'utf8').trim(), file };
  }
  return { text, file };
}

/**
 * A developer machine's payload key (`dialer dev`, `dialer demo` without DIALER_PAYLOAD_KEYS):
 * one key kept in <data folder>/payload-keys, so that histories written earlier still decrypt.
 * Returns the file's DIALER_PAYLOAD_KEYS text and where it is.
 */
export function devPayloadKeys(dataDir: string): { text: string; file: string } {
  return keptSecret(dataDir, 'payload-keys', () =>
    newPayloadKeyEntry(`dev-${new Date().toISOString().slice(0, 10)}`),
  );
}

/**
 * A developer machine's API token (`dialer dev`, `dialer demo` without DIALER_API_TOKEN): kept in
 * <data folder>/api-token, so that the HTTP API and the operator console work on embedded
 * defaults and a signed-in browser stays signed in across restarts.
 */
export function devApiToken(dataDir: string): { token: string; file: string } {
  const { text, file } = keptSecret(dataDir, 'api-token', () => crypto.randomBytes(24).toString('base64url'));
  return { token: text, file };
}
