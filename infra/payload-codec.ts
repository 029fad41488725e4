import crypto, { type KeyObject } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

/**
 * Encryption of everything the dialer hands Temporal (workflow and activity inputs and results,
 * signals, queries, updates, memos): phone numbers and names never reach Temporal's database, its
 * UI or its logs in clear. AES-256-GCM; each payload is serialized whole (metadata and data), then
 * encrypted under the first configured key with a random 12-byte IV. The other keys only decrypt:
 * after a rotation, the new key goes first and the old one stays until no history needs it.
 * Pure: no file, no environment (the keys come from infra/config.ts, DIALER_PAYLOAD_KEYS).
 */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const CIPHER = 'aes-256-gcm';

/** A key of DIALER_PAYLOAD_KEYS; the key itself is a KeyObject, which neither logs nor serializes. */
export interface PayloadKey {
  id: string;
  key: KeyObject;
}

/** A payload that cannot be decrypted: its key id is named, never the key. */
export class PayloadKeyError extends Error {
  override name = 'PayloadKeyError';
}

const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const textOf = (bytes: Uint8Array | null | undefined): string | undefined =>
  bytes ? Buffer.from(bytes).toString('utf8') : undefined;

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, KeyObject>;

  constructor(private readonly keys: readonly PayloadKey[]) {
    if (keys.length === 0) throw new Error('EncryptionCodec needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encrypt(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decrypt(p));
  }

  encrypt(payload: Payload): Payload {
    const { id, key } = this.keys[0]!;
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv(CIPHER, key, iv);
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return { metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(id) }, data: sealed };
  }

  /** An encrypted payload decrypted with the key its metadata names; any other passes unchanged. */
  decrypt(payload: Payload): Payload {
    if (textOf(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return payload;
    const id = textOf(payload.metadata?.[KEY_ID_METADATA]) ?? '';
    const shown = JSON.stringify(id.slice(0, 64));
    const key = this.byId.get(id);
    if (!key) {
      throw new PayloadKeyError(
        `a payload is encrypted under key id ${shown}, which is not among the configured keys (DIALER_PAYLOAD_KEYS)`,
      );
    }
    const data = Buffer.from(payload.data ?? []);
    try {
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error('too short');
      const decipher = crypto.createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const body = data.subarray(IV_BYTES, data.length - TAG_BYTES);
      return temporal.api.common.v1.Payload.decode(Buffer.concat([decipher.update(body), decipher.final()]));
    } catch {
      throw new PayloadKeyError(
        `a payload under key id ${shown} does not decrypt: altered, or encrypted under another key with that id`,
      );
    }
  }
}

/** The codec for a configuration's keys, or undefined when it has none (payloads in clear). */
export function payloadCodecFor(cfg: { payloadKeys: readonly PayloadKey[] }): EncryptionCodec | undefined {
  return cfg.payloadKeys.length ? new EncryptionCodec(cfg.payloadKeys) : undefined;
}

/** The failure converter's module (infra/failure-converter.ts): failures' messages encoded too. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * The data converter for every Worker and Client of the dialer (and Worker.runReplayHistory):
 * the codec, and failures whose message and stack trace it encrypts; undefined without keys (the
 * SDK's default, in clear). A workflow bundle built ahead is built with FAILURE_CONVERTER_PATH.
 */
export function dataConverterFor(cfg: { payloadKeys: readonly PayloadKey[] }): DataConverter | undefined {
  const codec = payloadCodecFor(cfg);
  return codec ? { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH } : undefined;
}

/** A fresh DIALER_PAYLOAD_KEYS entry: `<id>:<32 random bytes in base64>`. */
export function newPayloadKeyEntry(id: string): string {
  return `${id}:${crypto.randomBytes(KEY_BYTES).toString('base64')}`;
}

/** A payload as Temporal's codec-server protocol carries it (proto3 JSON: bytes in base64). */
export interface PayloadJson {
  metadata?: Record<string, string>;
  data?: string;
}

const mapValues = <A, B>(o: Record<string, A>, f: (a: A) => B): Record<string, B> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));

export function payloadFromJson(p: PayloadJson): Payload {
  return {
    metadata: mapValues(p.metadata ?? {}, (v) => Buffer.from(v, 'base64')),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

export function payloadToJson(p: Payload): PayloadJson {
  return {
    metadata: mapValues(p.metadata ?? {}, (v) => Buffer.from(v).toString('base64')),
    data: Buffer.from(p.data ?? []).toString('base64'),
  };
}
