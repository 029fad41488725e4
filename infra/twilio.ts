import twilio from 'twilio';
import RequestClient from 'twilio/lib/base/RequestClient';
import type Response from 'twilio/lib/http/response';

export type TwilioClient = twilio.Twilio;

/**
 * Twilio's SDK always talks to https://<product>.twilio.com. When a base URL is configured
 * (our simulator, for tests and dry runs), this request client rewrites every request's origin
 * to it and keeps path, query, body and Basic auth exactly as the SDK built them.
 */
export class RedirectingRequestClient extends RequestClient {
  constructor(
    private readonly baseUrl: string,
    opts?: ConstructorParameters<typeof RequestClient>[0],
  ) {
    super(opts);
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<Response<TData>> {
    const target = new URL(opts.uri);
    const base = new URL(this.baseUrl);
    target.protocol = base.protocol;
    target.host = base.host;
    return super.request<TData>({ ...opts, uri: target.toString() });
  }
}

export interface TwilioClientOptions {
  accountSid: string;
  authToken: string;
  /** Set → every request goes to this origin instead of api.twilio.com (the simulator). */
  apiBaseUrl?: string;
  /** Per-request timeout in ms (the SDK's default is 30 s). */
  timeoutMs?: number;
}

export function createTwilioClient(opts: TwilioClientOptions): TwilioClient {
  const clientOpts = { timeout: opts.timeoutMs ?? 30_000 };
  const httpClient = opts.apiBaseUrl
    ? new RedirectingRequestClient(opts.apiBaseUrl, clientOpts)
    : new RequestClient(clientOpts);
  return twilio(opts.accountSid, opts.authToken, { httpClient });
}
