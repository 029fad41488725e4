import { z } from 'zod';
import { formatIssues, ScenarioError } from './scenario';
import { STATUS_CALLBACK_EVENTS, type SimFaults } from './types';

const ms = z.number().int().nonnegative().max(600_000);

/** The body of PUT /sim/faults: only the faults given change; `null` turns one off. */
export const faultsChangeSchema = z.strictObject({
  createDelayMs: ms.optional(),
  callbacks: z
    .strictObject({
      duplicate: z.boolean().nullable().optional(),
      outOfOrder: z.boolean().nullable().optional(),
      delayMs: ms.nullable().optional(),
      failFirst: z.boolean().nullable().optional(),
      dropEvents: z.array(z.enum(STATUS_CALLBACK_EVENTS)).nullable().optional(),
    })
    .optional(),
});
export type FaultsChange = z.output<typeof faultsChangeSchema>;

/** Validates a change of faults; the error names each bad field (400 at the control API). */
export function parseFaults(value: unknown, source = 'faults'): FaultsChange {
  const result = faultsChangeSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = formatIssues(result.error.issues);
  throw new ScenarioError(`${source} are not valid:\n  ${problems.join('\n  ')}`, problems);
}

/** Applies a change in place: the REST API and the engine read these objects as they work. */
export function applyFaults(faults: SimFaults, change: FaultsChange): void {
  if (change.createDelayMs !== undefined) faults.createDelayMs = change.createDelayMs;
  for (const [key, value] of Object.entries(change.callbacks ?? {})) {
    const k = key as keyof SimFaults['callbacks'];
    if (value === null) delete faults.callbacks[k];
    else if (value !== undefined) (faults.callbacks as Record<string, unknown>)[k] = value;
  }
}
