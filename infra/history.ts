import { type DataConverter, defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { workflowIdOfInput } from '../workflows/shared';

/**
 * The workflow id a history ran under (a history file does not carry it), from its first event's
 * workflow type and input, decoded through the converter's codecs when it is encrypted.
 */
export async function workflowIdOfHistory(
  history: temporal.api.history.v1.IHistory,
  converter?: DataConverter,
): Promise<string | undefined> {
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const first = started?.input?.payloads?.[0];
  if (!started?.workflowType?.name || !first) return undefined;
  try {
    let payloads = [first];
    for (const codec of [...(converter?.payloadCodecs ?? [])].reverse())
      payloads = await codec.decode(payloads);
    return workflowIdOfInput(started.workflowType.name, defaultPayloadConverter.fromPayload(payloads[0]!));
  } catch {
    return undefined;
  }
}
