import { ApplicationFailure } from '@temporalio/common';

/** Permanent failures: the activity that knows throws one of these, and retrying cannot help. */
export type NonRetryableType = 'UnknownCampaign' | 'InvalidCampaign' | 'AttemptMissing' | 'ContactMissing';

export function permanent(type: NonRetryableType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}
