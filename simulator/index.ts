import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type pino from 'pino';
import { createLogger } from '../infra/logger';
import { controlApi } from './control-api';
import { CallEngine } from './engine';
import { applyFaults, parseFaults } from './faults';
import { restApi } from './rest-api';
import { DEFAULT_SCENARIO, parseScenario, type Scenario } from './scenario';
import { Scheduler } from './scheduler';
import type { CallbackFaults, CallStatus, RejectedCreate, SimCall, SimFaults } from './types';

/**
 * The Twilio simulator (telephony.md §3): a standalone HTTP server that the real twilio SDK
 * talks to when TWILIO_API_BASE_URL points at it. Operators dry-run campaigns against it; tests
 * start one in-process on port 0.
 */

export interface SimulatorOptions {
  /** Default '127.0.0.1': the control API has no auth, so it stays on loopback unless asked. */
  host?: string;
  /** Default 0: pick a free port. */
  port?: number;
  /** The one account it accepts (the Basic auth user). */
  accountSid: string;
  /** The Basic auth password, and the key for X-Twilio-Signature on the requests it sends. */
  authToken: string;
  /** Start scenario (default: every number answers 'human', ringSeconds 1, talkSeconds 2). */
  scenario?: Scenario;
  /** Multiplies every ring and talk duration (e.g. 0.01 in tests); default 1. */
  timeScale?: number;
  callbacks?: CallbackFaults;
  /** Default unlimited; excess calls wait in 'queued' for their turn. */
  callsPerSecond?: number;
  /** Default unlimited; a create over it is rejected with Twilio error 10004. */
  maxConcurrentCalls?: number;
  /**
   * Default unlimited; a REST request while this many are already being answered is refused with
   * HTTP 429 and Twilio error 20429 (Too Many Requests), as Twilio limits an account's API
   * concurrency. With createDelayMs it makes overlapping creates collide.
   */
  maxConcurrentRequests?: number;
  /** Delay before answering a create: the client times out, but the call exists and runs. */
  createDelayMs?: number;
  logger?: pino.Logger;
}

export interface RunningSimulator {
  /** Base URL, e.g. http://127.0.0.1:3100: what TWILIO_API_BASE_URL names. */
  url: string;
  port: number;
  /** Stops the server and cancels every timer and pending request; safe to call twice. */
  close(): Promise<void>;
  /** Every call seen since the last reset, oldest first (what GET /sim/calls shows). */
  calls(filter?: { to?: string }): SimCall[];
  /** The calls' own records, oldest first, not copied: read them, never change them (a long run's calls are many). */
  records(): readonly Readonly<SimCall>[];
  call(sid: string): SimCall | undefined;
  /** Creates the simulator rejected (invalid, blocked, over the concurrency limit). */
  rejections(): RejectedCreate[];
  /** POST /sim/reset: forget all calls and attempt counters, restore the start scenario. */
  reset(): void;
  scenario(): Scenario;
  /** PUT /sim/scenario; throws ScenarioError naming the bad field. */
  setScenario(scenario: unknown): Scenario;
  /** The faults in force (GET /sim/faults). */
  faults(): SimFaults;
  /**
   * PUT /sim/faults: changes the given faults for what happens from now on (a create being
   * answered, a callback being sent); throws naming the bad field.
   */
  setFaults(faults: unknown): SimFaults;
  /** POST /sim/calls/{sid}/hangup; throws if the call is unknown, over, or has no agent leg. */
  hangup(sid: string, side?: 'callee' | 'agent'): SimCall;
  /** Resolves with the call once its status is one of `statuses` (default: any final one). */
  waitForCall(sid: string, statuses?: CallStatus[], timeoutMs?: number): Promise<SimCall>;
  /** Resolves when no call is live and every callback and TwiML request has finished. */
  idle(timeoutMs?: number): Promise<void>;
}

const FINAL: CallStatus[] = ['completed', 'busy', 'no-answer', 'failed', 'canceled'];
const POLL_MS = 5;

function positive(value: number | undefined, name: string, allowZero = false): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new Error(
      `simulator option ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, not ${value}`,
    );
  }
}

async function pollUntil<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function checkOptions(opts: SimulatorOptions): void {
  if (!opts.accountSid) throw new Error('simulator option accountSid is required');
  if (!opts.authToken) throw new Error('simulator option authToken is required');
  positive(opts.timeScale, 'timeScale');
  positive(opts.callsPerSecond, 'callsPerSecond');
  positive(opts.maxConcurrentCalls, 'maxConcurrentCalls');
  positive(opts.maxConcurrentRequests, 'maxConcurrentRequests');
  positive(opts.createDelayMs, 'createDelayMs', true);
  positive(opts.callbacks?.delayMs, 'callbacks.delayMs', true);
}

/** What the HTTP apps and the handle share: one engine, one scheduler, one set of faults. */
interface SimulatorParts {
  engine: CallEngine;
  scheduler: Scheduler;
  faults: SimFaults;
  startScenario: Scenario;
  logger: pino.Logger;
}

function createParts(opts: SimulatorOptions): SimulatorParts {
  const logger = opts.logger ?? createLogger('warn', 'simulator');
  const startScenario = parseScenario(opts.scenario ?? DEFAULT_SCENARIO, 'the scenario option');
  const scheduler = new Scheduler((err) => logger.error({ err }, 'simulator task failed'));
  const faults: SimFaults = { createDelayMs: opts.createDelayMs ?? 0, callbacks: { ...opts.callbacks } };
  const engine = new CallEngine({
    accountSid: opts.accountSid,
    authToken: opts.authToken,
    timeScale: opts.timeScale ?? 1,
    faults: faults.callbacks,
    callsPerSecond: opts.callsPerSecond,
    maxConcurrentCalls: opts.maxConcurrentCalls,
    scenario: startScenario,
    scheduler,
    logger,
  });
  return { engine, scheduler, faults, startScenario, logger };
}

async function createApp(opts: SimulatorOptions, parts: SimulatorParts): Promise<FastifyInstance> {
  const { engine, scheduler, faults, startScenario, logger } = parts;
  const app = Fastify({ logger: false });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: `no route ${req.method} ${req.url}` }),
  );
  await app.register(controlApi, { engine, startScenario, faults, logger });
  await app.register(restApi, {
    prefix: '/2010-04-01/Accounts/:AccountSid',
    engine,
    scheduler,
    accountSid: opts.accountSid,
    authToken: opts.authToken,
    faults,
    maxConcurrentRequests: opts.maxConcurrentRequests,
    logger,
  });
  return app;
}

export async function startSimulator(opts: SimulatorOptions): Promise<RunningSimulator> {
  checkOptions(opts);
  const parts = createParts(opts);
  const app = await createApp(opts, parts);

  const host = opts.host ?? '127.0.0.1';
  await app.listen({ host, port: opts.port ?? 0 });
  const port = (app.server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  parts.logger.info({ url }, 'Twilio simulator listening');
  return simulatorHandle(url, port, app, parts);
}

function simulatorHandle(
  url: string,
  port: number,
  app: FastifyInstance,
  parts: SimulatorParts,
): RunningSimulator {
  const { engine, scheduler, faults, startScenario } = parts;
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= (async () => {
        engine.close();
        scheduler.close();
        await app.close();
      })();
      return closing;
    },
    calls: (filter) => engine.list(filter),
    records: () => engine.records(),
    call: (sid) => engine.get(sid),
    rejections: () => engine.rejections(),
    reset: () => engine.reset(startScenario),
    scenario: () => engine.scenario,
    setScenario(scenario) {
      engine.scenario = parseScenario(scenario, 'scenario');
      return engine.scenario;
    },
    faults: () => structuredClone(faults),
    setFaults(change) {
      applyFaults(faults, parseFaults(change, 'faults'));
      return structuredClone(faults);
    },
    hangup(sid, side = 'callee') {
      const result = engine.hangup(sid, side);
      if (!result.ok) throw new Error(result.error);
      return result.call;
    },
    waitForCall(sid, statuses = FINAL, timeoutMs = 10_000) {
      return pollUntil(`call ${sid} to be ${statuses.join('|')}`, timeoutMs, () => {
        const call = engine.get(sid);
        return call && statuses.includes(call.status) ? call : undefined;
      });
    },
    async idle(timeoutMs = 10_000) {
      await pollUntil('the simulator to be idle', timeoutMs, () => (engine.idle ? true : undefined));
    },
  };
}

export {
  AGENT_BEHAVIOURS,
  DEFAULT_SCENARIO,
  OUTCOMES,
  formatIssues,
  loadScenarioFile,
  parseScenario,
  scenarioSchema,
  ScenarioError,
} from './scenario';
export type { AgentBehaviour, OutcomeName, OutcomeSpec, ResolvedOutcome, Scenario } from './scenario';
export type {
  AgentLeg,
  CallbackDelivery,
  CallbackFaults,
  CallStatus,
  DialCallStatus,
  RejectedCreate,
  SimCall,
  SimEvent,
  SimFaults,
  StatusCallbackEvent,
} from './types';
