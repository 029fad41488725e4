import type { PayloadCodec } from '@temporalio/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type PayloadJson, PayloadKeyError, payloadFromJson, payloadToJson } from '../infra/payload-codec';
import { authenticate, handleApiError } from './api';
import { problem, sendProblem } from './problem';
import { routes } from './route';

/**
 * A codec server as Temporal defines it: the Temporal UI (or `temporal --codec-endpoint`) POSTs
 * `{ "payloads": [ { "metadata": { "<key>": "<base64>" }, "data": "<base64>" } ] }` to
 * /codec/decode (or /codec/encode) and gets the same shape back, decrypted (or encrypted) with
 * DIALER_PAYLOAD_KEYS, so that an operator reads histories the server only holds encrypted.
 *
 * Every request needs `Authorization: Bearer <DIALER_API_TOKEN>`, as the API does. The UI calls
 * from the browser: its origins (TEMPORAL_UI_ORIGIN) get CORS answers, and under `dialer dev`
 * only, where every piece listens on loopback and the UI sends no token, a request whose Origin
 * is one of them is let through without one.
 */
export interface CodecDeps {
  /** The codec of DIALER_PAYLOAD_KEYS; without it /codec answers 503. */
  payloadCodec?: PayloadCodec;
  apiToken?: string;
  /** The Temporal UI's origins as browsers send them. */
  uiOrigins?: readonly string[];
  /** `dialer dev`: a request from one of uiOrigins needs no token. */
  trustUiOrigin?: boolean;
}

/** Temporal caps a payload at 2 MiB; in base64, with a few of them in one request. */
const CODEC_BODY_LIMIT = 8 * 1024 * 1024;
const ALLOWED_HEADERS = 'content-type, authorization, x-namespace';

const base64 = {
  type: 'string',
  pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$',
} as const;
const payloadsSchema = {
  type: 'object',
  required: ['payloads'],
  additionalProperties: false,
  properties: {
    payloads: {
      type: 'array',
      items: {
        type: 'object',
        properties: { metadata: { type: 'object', additionalProperties: base64 }, data: base64 },
      },
    },
  },
} as const;

/** CORS for the UI's origins (Vary: Origin whatever it is); true when the request comes from one. */
function allowOrigin(deps: CodecDeps, req: FastifyRequest, reply: FastifyReply): boolean {
  reply.header('Vary', 'Origin');
  const origin = req.headers.origin;
  if (!origin || !deps.uiOrigins?.includes(origin)) return false;
  reply.header('Access-Control-Allow-Origin', origin);
  return true;
}

export async function registerCodecServer(app: FastifyInstance, deps: CodecDeps): Promise<void> {
  await app.register(
    async (codec) => {
      codec.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
        const fromUi = allowOrigin(deps, req, reply);
        if (req.method === 'OPTIONS') return; // a preflight carries no credentials
        if (fromUi && deps.trustUiOrigin) return;
        return authenticate(deps.apiToken, req, reply);
      });
      codec.setErrorHandler(handleApiError);
      for (const operation of ['encode', 'decode'] as const) {
        codec.options(`/${operation}`, async (req, reply) => {
          if (!reply.hasHeader('Access-Control-Allow-Origin')) {
            return sendProblem(
              reply,
              problem(403, 'This origin is not the Temporal UI’s (TEMPORAL_UI_ORIGIN).'),
            );
          }
          reply.header('Access-Control-Allow-Methods', 'POST, OPTIONS');
          reply.header('Access-Control-Allow-Headers', ALLOWED_HEADERS);
          reply.header('Access-Control-Max-Age', '600');
          return reply.code(204).send();
        });
        registerOperation(codec, deps, operation);
      }
    },
    { prefix: '/codec' },
  );
}

const SUMMARY = {
  encode: 'Codec server: encrypt payloads with the first key of DIALER_PAYLOAD_KEYS',
  decode: 'Codec server: decrypt payloads (others come back unchanged)',
};

function registerOperation(codec: FastifyInstance, deps: CodecDeps, operation: 'encode' | 'decode'): void {
  routes(codec, 'codec').post<{ Body: { payloads: PayloadJson[] } }>(
    `/${operation}`,
    {
      summary: SUMMARY[operation],
      description: 'Temporal’s codec-server protocol; the Temporal UI sends X-Namespace.',
      headers: { type: 'object', properties: { 'x-namespace': { type: 'string' } } },
      body: payloadsSchema,
      answers: { 200: payloadsSchema },
      bodyLimit: CODEC_BODY_LIMIT,
    },
    async (req, reply) => {
      const codecOf = deps.payloadCodec;
      if (!codecOf) {
        return sendProblem(
          reply,
          problem(503, 'No payload keys here: set DIALER_PAYLOAD_KEYS on the server.'),
        );
      }
      const payloads: PayloadJson[] = [];
      for (const [i, p] of req.body.payloads.entries()) {
        try {
          const [done] = await codecOf[operation]([payloadFromJson(p)]);
          payloads.push(payloadToJson(done!));
        } catch (err) {
          if (!(err instanceof PayloadKeyError)) throw err;
          return sendProblem(reply, problem(400, err.message, { field: `/payloads/${i}` }));
        }
      }
      return { payloads };
    },
  );
}
