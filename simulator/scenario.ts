import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * What a called number does, per telephony.md §3. Each outcome exists so that one row of the
 * outcome mapping (telephony.md §2) can be observed through Twilio's own signals.
 */
export const OUTCOMES = [
  'human',
  'human-hangs-up',
  'agent-hangs-up',
  'machine',
  'fax',
  'busy',
  'no-answer',
  'unreachable',
  'wrong-number',
  'invalid',
  'blocked',
  'reject',
  'incompatible',
  'no-line',
  'error',
] as const;
export type OutcomeName = (typeof OUTCOMES)[number];

/** What an agent's endpoint does when a <Dial> rings it. */
export const AGENT_BEHAVIOURS = ['answer', 'no-answer', 'busy', 'hangs-up-first'] as const;
export type AgentBehaviour = (typeof AGENT_BEHAVIOURS)[number];

const DIALABLE = /^(\+[1-9]\d{1,14}|client:\S+|sip:\S+)$/;
const dialable = z
  .string()
  .regex(DIALABLE, 'must be an E.164 number like +15005550001, client:<identity> or sip:<address>');

// A string first, then the enum: a number or an object then fails as a type mismatch, which
// lets formatIssues() pick the union branch the author meant (see below).
const outcomeName = z.string().pipe(z.enum(OUTCOMES));
const seconds = z.number().finite().nonnegative().max(86_400);
const outcomeObject = z.strictObject({
  outcome: outcomeName,
  ringSeconds: seconds.optional(),
  talkSeconds: seconds.optional(),
});
const outcomeSpec = z.union([outcomeName, outcomeObject], {
  error: 'must be an outcome name or an object {"outcome", "ringSeconds", "talkSeconds"}',
});
const numberPlan = z.union([outcomeSpec, z.array(outcomeSpec).min(1, 'must list at least one outcome')], {
  error: 'must be an outcome, an {"outcome", …} object, or a non-empty list of them',
});

/** The scenario file (JSON) and the body of PUT /sim/scenario. */
export const scenarioSchema = z.strictObject({
  default: outcomeSpec.optional(),
  numbers: z.record(dialable, numberPlan).optional(),
  agents: z.record(z.union([z.literal('default'), dialable]), z.enum(AGENT_BEHAVIOURS)).optional(),
});

export type Scenario = z.output<typeof scenarioSchema>;
export type OutcomeSpec = z.output<typeof outcomeSpec>;

/** An outcome with its timing filled in: the number's own, else the default's, else these. */
export interface ResolvedOutcome {
  outcome: OutcomeName;
  ringSeconds: number;
  talkSeconds: number;
}

const BUILT_IN_TIMING = { ringSeconds: 1, talkSeconds: 2 };

export const DEFAULT_SCENARIO: Scenario = {
  default: { outcome: 'human', ...BUILT_IN_TIMING },
};

function toObject(spec: OutcomeSpec): Exclude<OutcomeSpec, string> {
  return typeof spec === 'string' ? { outcome: spec } : spec;
}

/**
 * The outcome of the `attempt`-th call (0-based) to `to`. A list is used attempt by attempt and
 * its last entry repeats, so ["busy", "human"] means "busy once, then answers".
 */
export function resolveOutcome(scenario: Scenario, to: string, attempt: number): ResolvedOutcome {
  const base = toObject(scenario.default ?? 'human');
  const timing = {
    ringSeconds: base.ringSeconds ?? BUILT_IN_TIMING.ringSeconds,
    talkSeconds: base.talkSeconds ?? BUILT_IN_TIMING.talkSeconds,
  };
  const plan = scenario.numbers?.[to];
  let spec: OutcomeSpec = base;
  if (Array.isArray(plan)) spec = plan[Math.min(attempt, plan.length - 1)] ?? base;
  else if (plan !== undefined) spec = plan;
  const own = toObject(spec);
  return {
    outcome: own.outcome,
    ringSeconds: own.ringSeconds ?? timing.ringSeconds,
    talkSeconds: own.talkSeconds ?? timing.talkSeconds,
  };
}

/** `key` is 'client:<identity>', 'sip:<address>' or a number, as the <Dial> named it. */
export function resolveAgentBehaviour(scenario: Scenario, key: string): AgentBehaviour {
  return scenario.agents?.[key] ?? scenario.agents?.default ?? 'answer';
}

export class ScenarioError extends Error {
  constructor(
    message: string,
    /** One line per problem: `<path>: <what is wrong>`. */
    readonly problems: string[],
  ) {
    super(message);
    this.name = 'ScenarioError';
  }
}

/** Validates a parsed scenario; `source` (a file name) prefixes the error message. */
export function parseScenario(value: unknown, source = 'scenario'): Scenario {
  const result = scenarioSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = formatIssues(result.error.issues);
  throw new ScenarioError(`${source} is not a valid scenario:\n  ${problems.join('\n  ')}`, problems);
}

/** Reads and validates a scenario file; every error names the file and the bad field. */
export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ScenarioError(`cannot read scenario file ${path}: ${(err as Error).message}`, []);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const problem = `not valid JSON: ${(err as Error).message}`;
    throw new ScenarioError(`${path}: ${problem}`, [problem]);
  }
  return parseScenario(json, path);
}

type Issue = z.core.$ZodIssue;

/** `numbers["+15005550001"][1].outcome` — the way a person would point at the field. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || '(root)';
}

/**
 * zod reports a failed union as "Invalid input" with one issue list per branch. The branch the
 * author meant is the one whose type matched (a string for an outcome name, an object, a list);
 * report that branch's issues, so a typo in a list's third entry points at that entry.
 */
export function formatIssues(issues: readonly Issue[]): string[] {
  return issues.flatMap((issue) => flatten(issue, []));
}

function isTypeMismatch(branch: readonly Issue[]): boolean {
  return branch.every(
    (i) =>
      i.path.length === 0 &&
      (i.code === 'invalid_type' || (i.code === 'invalid_union' && i.errors.every(isTypeMismatch))),
  );
}

function flatten(issue: Issue, parent: readonly PropertyKey[]): string[] {
  const path = [...parent, ...issue.path];
  if (issue.code === 'invalid_union') {
    const meant = issue.errors.find((branch) => !isTypeMismatch(branch));
    if (meant) return meant.flatMap((i) => flatten(i, path));
  }
  if (issue.code === 'invalid_key') {
    const why = issue.issues.map((i) => i.message).join('; ');
    return [`${formatPath(path)}: invalid key: ${why}`];
  }
  return [`${formatPath(path)}: ${issue.message}`];
}
