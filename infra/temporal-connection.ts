import { type Interceptor, InterceptingCall } from '@grpc/grpc-js';
import {
  Client,
  Connection,
  type ConnectionLike,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
} from '@temporalio/client';
import type { Config } from './config';
import { dataConverterFor } from './payload-codec';

/**
 * Connections to Temporal for the server and the CLI, whose every call has a deadline: a frozen
 * or black-holed frontend fails a call with DEADLINE_EXCEEDED (the API answers 503) instead of
 * hanging a request or a command until it comes back. The workers' connections are the SDK's own.
 */
export interface CallDeadlines {
  /** Ordinary calls: start, signal, query, describe, list. */
  callMs: number;
  /**
   * Long polls (a workflow's result, an update's outcome): the server answers them by itself
   * within about 20 s when nothing happened, so their deadline only has to be longer than that.
   */
  longPollMs: number;
}

/** The methods the server may hold open while it waits for something to happen. */
const LONG_POLLS = new Set([
  'GetWorkflowExecutionHistory', // result(): waits for new events
  'PollWorkflowExecutionUpdate',
  'UpdateWorkflowExecution', // waits for the update's stage
  'ExecuteMultiOperation', // update-with-start
]);

/**
 * A gRPC interceptor that gives each call a deadline unless it has one already (e.g. from
 * Connection.withDeadline). It goes before the SDK's retry interceptor, so the retries of a call
 * share its deadline rather than getting one each.
 */
export function deadlineInterceptor(d: CallDeadlines): Interceptor {
  return (options, nextCall) => {
    if (options.deadline === undefined) {
      const method = options.method_definition.path.split('/').pop() ?? '';
      options = { ...options, deadline: Date.now() + (LONG_POLLS.has(method) ? d.longPollMs : d.callMs) };
    }
    return new InterceptingCall(nextCall(options));
  };
}

/** Connection.connect with a connect timeout and a deadline on every call. */
export async function connectTemporal(
  address: string,
  o: Partial<CallDeadlines> & { connectTimeoutMs?: number } = {},
): Promise<Connection> {
  return Connection.connect({
    address,
    connectTimeout: o.connectTimeoutMs ?? 5000,
    interceptors: [
      deadlineInterceptor({ callMs: o.callMs ?? 10_000, longPollMs: o.longPollMs ?? 70_000 }),
      makeGrpcRetryInterceptor(defaultGrpcRetryOptions()),
    ],
  });
}

/**
 * The dialer's client on a connection: the configured namespace, and the payload codec of
 * DIALER_PAYLOAD_KEYS (infra/payload-codec.ts), so that what it sends is encrypted and what it
 * reads (results, queries, memos) decrypted. Every client of the dialer is made here.
 */
export function temporalClient(
  connection: ConnectionLike,
  cfg: Pick<Config, 'temporal' | 'payloadKeys'>,
): Client {
  return new Client({ connection, namespace: cfg.temporal.namespace, dataConverter: dataConverterFor(cfg) });
}
