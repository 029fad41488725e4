import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failures with their message and stack trace moved into an encoded payload, so the payload codec
 * encrypts them too: an error may quote a phone number (Twilio's own messages do). Loaded by path
 * (DataConverter.failureConverterPath) in workers, clients and the workflow bundle alike.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
