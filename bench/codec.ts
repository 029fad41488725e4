/**
 * The benchmark's "codec" part: what the payload codec (infra/payload-codec.ts, AES-256-GCM)
 * costs per attempt. The payloads are those a small campaign really produced on the stack: every
 * payload of its histories (the contact workflows' and the campaign's) that went through the
 * codec (workflow inputs and results, signals, activity inputs and results, local-activity
 * results, child starts, memos), counted per attempt, each once (a copy the server made into
 * another history is not counted again). Then, in this process, the same payloads go the way the
 * dialer sends and receives them, once each way, many attempts' worth: the default payload
 * converter and the codec (value → JSON → encrypted → decrypted → value), against the converter
 * alone as baseline, in alternating blocks, CPU time by process.cpuUsage. Not in any history,
 * so not counted: the local activity's input (one small payload an attempt).
 */
import { type Payload, type PayloadCodec, defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { ENCRYPTED_ENCODING } from '../infra/payload-codec';
import { type HistoryEvent, eventTypeOfAttributes } from './histories';

/** Baseline and codec blocks alternate this many times, so a change in the host's speed hits both. */
const BLOCKS = 10;

const isPayload = (x: object): x is Payload => {
  const metadata = (x as Payload).metadata as Record<string, unknown> | null | undefined;
  return typeof metadata === 'object' && metadata !== null && metadata.encoding instanceof Uint8Array;
};
const encodingOf = (p: Payload) => Buffer.from(p.metadata!.encoding!).toString('utf8');
const sizeOf = (p: Payload) => temporal.api.common.v1.Payload.encode(p).finish().length;

/**
 * Every payload under `x`, by where it sits (`input`, `memo.fields`, `details.result`…): the
 * payloads of one place of one event are converted together, as the SDK converts them.
 */
function payloadsUnder(x: unknown, path: string[], into: Map<string, Payload[]>): void {
  if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x)) return;
  if (isPayload(x)) {
    const place = path.join('.');
    into.set(place, [...(into.get(place) ?? []), x]);
    return;
  }
  if (Array.isArray(x)) return x.forEach((y) => payloadsUnder(y, path, into));
  for (const [key, value] of Object.entries(x)) {
    // a memo's or a header's own field names, and Payloads' list, name no place of their own
    const named = path.at(-1) === 'fields' || key === 'payloads' ? path : [...path, key];
    payloadsUnder(value, named, into);
  }
}

/**
 * Places that hold a copy the server made of a payload another event of the same histories
 * carries: a child's input and memo (StartChildWorkflowExecutionInitiated, copied into the
 * child's WorkflowExecutionStarted), a signal from one workflow to another
 * (SignalExternalWorkflowExecutionInitiated, copied into the receiver's WorkflowExecutionSignaled),
 * a child's result (its WorkflowExecutionCompleted, copied into ChildWorkflowExecutionCompleted).
 * Such a payload is encoded once, by its sender, and decoded once, by its receiver: it counts once.
 */
const COPY =
  /^(StartChildWorkflowExecutionInitiated|SignalExternalWorkflowExecutionInitiated|ChildWorkflowExecutionCompleted)\./;

/** The payloads of a campaign's histories: what the codec encrypted, and what stayed in clear. */
export class HistoryPayloads {
  /** Encrypted, as Temporal stores them; one entry per place of an event. */
  readonly groups: Payload[][] = [];
  /** Encrypted payloads by event type and place. */
  readonly byPlace: Record<string, number> = {};
  /** Payloads in clear (search attributes; the SDK's own local-activity marker data). */
  clear = 0;
  /** Encrypted copies of a payload counted elsewhere (COPY). */
  copies = 0;

  add(events: HistoryEvent[]): void {
    for (const event of events) {
      const [key, attributes] =
        Object.entries(event).find(([k, v]) => k.endsWith('EventAttributes') && v) ?? [];
      if (!key) continue;
      const places = new Map<string, Payload[]>();
      payloadsUnder(attributes, [eventTypeOfAttributes(key)], places);
      for (const [place, payloads] of places) {
        const encrypted = payloads.filter((p) => encodingOf(p) === ENCRYPTED_ENCODING);
        this.clear += payloads.length - encrypted.length;
        if (!encrypted.length) continue;
        if (COPY.test(place)) {
          this.copies += encrypted.length;
          continue;
        }
        this.groups.push(encrypted);
        this.byPlace[place] = (this.byPlace[place] ?? 0) + encrypted.length;
      }
    }
  }
}

/** One pass over the values as a worker converts them: to payloads and back, through the codec if given. */
async function convert(values: unknown[][], codec: PayloadCodec | undefined): Promise<number> {
  let converted = 0;
  for (const group of values) {
    let payloads = group.map((v) => defaultPayloadConverter.toPayload(v));
    if (codec) payloads = await codec.decode(await codec.encode(payloads));
    converted += payloads.map((p) => defaultPayloadConverter.fromPayload(p)).length;
  }
  return converted;
}

async function cpuMsOf(work: () => Promise<unknown>): Promise<number> {
  const t0 = process.cpuUsage();
  await work();
  const u = process.cpuUsage(t0);
  return (u.user + u.system) / 1000;
}

export interface CodecCost {
  attempts: number;
  payloadsPerAttempt: number;
  /** The converter's JSON payloads, serialized: what the codec encrypts. */
  bytesPerAttempt: number;
  /** The same, encrypted: what Temporal stores. */
  encryptedBytesPerAttempt: number;
  /** Encrypted copies the server made of payloads counted once (COPY). */
  copiesPerAttempt: number;
  clearPayloadsPerAttempt: number;
  payloadsPerAttemptByPlace: Record<string, number>;
  /** Attempts' worth converted, for each of the two figures below. */
  attemptsConverted: number;
  /** Converter and codec, encode and decode. */
  codecCpuMsPerAttempt: number;
  /** The converter alone (no codec), encode and decode. */
  codecBaselineCpuMsPerAttempt: number;
  /** What the codec adds: the difference of the two. */
  codecAddedCpuMsPerAttempt: number;
  ratioToBaseline: number;
}

/** The histories' payloads, per attempt, and the CPU their conversion takes with and without the codec. */
export async function codecCost(
  codec: PayloadCodec,
  h: HistoryPayloads,
  attempts: number,
  repetitions: number,
): Promise<CodecCost> {
  const plain = await Promise.all(h.groups.map((g) => codec.decode(g)));
  const values = plain.map((g) => g.map((p) => defaultPayloadConverter.fromPayload(p)));
  const passes = Math.max(1, Math.ceil(repetitions / attempts / BLOCKS));
  const block = async (c: PayloadCodec | undefined) => {
    for (let i = 0; i < passes; i++) await convert(values, c);
  };
  await block(codec); // warm-up: the code compiled, the key schedule cached
  await block(undefined);
  let codecMs = 0;
  let baselineMs = 0;
  for (let b = 0; b < BLOCKS; b++) {
    baselineMs += await cpuMsOf(() => block(undefined));
    codecMs += await cpuMsOf(() => block(codec));
  }
  const converted = passes * BLOCKS * attempts;
  const per = (x: number, digits: number) => Number((x / attempts).toFixed(digits));
  const sum = (gs: Payload[][]) => gs.flat().reduce((a, p) => a + sizeOf(p), 0);
  return {
    attempts,
    payloadsPerAttempt: per(h.groups.flat().length, 1),
    bytesPerAttempt: per(sum(plain), 0),
    encryptedBytesPerAttempt: per(sum(h.groups), 0),
    copiesPerAttempt: per(h.copies, 1),
    clearPayloadsPerAttempt: per(h.clear, 1),
    payloadsPerAttemptByPlace: Object.fromEntries(
      Object.entries(h.byPlace)
        .sort((a, b) => b[1] - a[1])
        .map(([place, n]) => [place, per(n, 2)]),
    ),
    attemptsConverted: converted,
    codecCpuMsPerAttempt: Number((codecMs / converted).toFixed(3)),
    codecBaselineCpuMsPerAttempt: Number((baselineMs / converted).toFixed(3)),
    codecAddedCpuMsPerAttempt: Number(((codecMs - baselineMs) / converted).toFixed(3)),
    ratioToBaseline: Number((codecMs / baselineMs).toFixed(2)),
  };
}
