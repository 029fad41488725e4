import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { workflowIdOfInput } from '../workflows/shared';

/** The workflow id a history ran under (a history file does not carry it), from its first event. */
export function workflowIdOfHistory(history: temporal.api.history.v1.IHistory): string | undefined {
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!started?.workflowType?.name || !payload) return undefined;
  try {
    return workflowIdOfInput(started.workflowType.name, defaultPayloadConverter.fromPayload(payload));
  } catch {
    return undefined;
  }
}
