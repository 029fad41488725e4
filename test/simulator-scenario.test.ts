import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import twilio from 'twilio';
import { loadScenarioFile, scenarioSchema, ScenarioError } from '../simulator';
import { resolveAgentBehaviour, resolveOutcome } from '../simulator/scenario';
import { parseTwiml, parseXml, TwimlParseError } from '../simulator/twiml';

// Scenario files are written by hand by operators: a mistake must name the file and the field.

describe('scenario files', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sim-scenario-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test('the example from telephony.md loads', () => {
    const p = file(
      'example.json',
      JSON.stringify({
        default: { outcome: 'human', ringSeconds: 1, talkSeconds: 2 },
        numbers: {
          '+15005550001': ['busy', 'no-answer', { outcome: 'human', talkSeconds: 5 }],
          '+15005550002': 'wrong-number',
        },
        agents: { default: 'answer', 'client:agent-7': 'no-answer' },
      }),
    );
    const scenario = loadScenarioFile(p);
    assert.equal(scenario.numbers?.['+15005550002'], 'wrong-number');
    assert.equal(scenarioSchema.safeParse(scenario).success, true);
  });

  test('a bad outcome deep in a list names the file and the exact field', () => {
    const p = file(
      'typo.json',
      JSON.stringify({ numbers: { '+15005550001': ['busy', { outcome: 'humann' }] } }),
    );
    assert.throws(
      () => loadScenarioFile(p),
      (err: unknown) => {
        assert.ok(err instanceof ScenarioError);
        assert.ok(err.message.includes(p), 'names the file');
        assert.deepEqual(err.problems.length, 1);
        assert.match(err.problems[0] ?? '', /^numbers\["\+15005550001"\]\[1\]\.outcome: Invalid option/);
        return true;
      },
    );
  });

  test('wrong types, unknown keys and bad numbers are each reported with their path', () => {
    const p = file(
      'many.json',
      JSON.stringify({
        default: { outcome: 'human', ringSecs: 3 },
        numbers: { '+15005550001': 7, '5550002': 'busy', '+15005550003': [] },
        agents: { default: 'maybe' },
      }),
    );
    try {
      loadScenarioFile(p);
      assert.fail('should not load');
    } catch (err) {
      assert.ok(err instanceof ScenarioError);
      const text = err.problems.join('\n');
      assert.match(text, /default: Unrecognized key: "ringSecs"/);
      assert.match(text, /numbers\["\+15005550001"\]: must be an outcome/);
      assert.match(text, /numbers\["5550002"\]: invalid key: must be an E\.164 number/);
      assert.match(text, /numbers\["\+15005550003"\]: must list at least one outcome/);
      assert.match(text, /agents\.default: Invalid option/);
    }
  });

  test('a file that is not JSON, or not there, says so and names it', () => {
    const p = file('broken.json', '{ "default": "human", }');
    assert.throws(
      () => loadScenarioFile(p),
      (err: Error) => err.message.startsWith(`${p}: not valid JSON`),
    );
    const missing = path.join(dir, 'missing.json');
    assert.throws(() => loadScenarioFile(missing), new RegExp(`cannot read scenario file ${missing}`));
  });
});

describe('scenario resolution', () => {
  const scenario = scenarioSchema.parse({
    default: { outcome: 'human', ringSeconds: 4, talkSeconds: 9 },
    numbers: { '+15005550001': ['busy', { outcome: 'human', talkSeconds: 30 }], '+15005550002': 'fax' },
    agents: { default: 'no-answer', 'client:agent-7': 'busy' },
  });

  test('a list is used attempt by attempt and its last entry repeats', () => {
    assert.equal(resolveOutcome(scenario, '+15005550001', 0).outcome, 'busy');
    assert.deepEqual(resolveOutcome(scenario, '+15005550001', 1), {
      outcome: 'human',
      ringSeconds: 4,
      talkSeconds: 30,
    });
    assert.deepEqual(resolveOutcome(scenario, '+15005550001', 7), {
      outcome: 'human',
      ringSeconds: 4,
      talkSeconds: 30,
    });
  });

  test('numbers not listed take the default; timing comes from the default', () => {
    assert.deepEqual(resolveOutcome(scenario, '+15005550099', 0), {
      outcome: 'human',
      ringSeconds: 4,
      talkSeconds: 9,
    });
    assert.deepEqual(resolveOutcome(scenario, '+15005550002', 0), {
      outcome: 'fax',
      ringSeconds: 4,
      talkSeconds: 9,
    });
    assert.deepEqual(resolveOutcome({}, '+15005550002', 0), {
      outcome: 'human',
      ringSeconds: 1,
      talkSeconds: 2,
    });
  });

  test('agents: by endpoint, then default, then answer', () => {
    assert.equal(resolveAgentBehaviour(scenario, 'client:agent-7'), 'busy');
    assert.equal(resolveAgentBehaviour(scenario, 'client:agent-8'), 'no-answer');
    assert.equal(resolveAgentBehaviour({}, 'client:agent-8'), 'answer');
  });
});

describe('TwiML parsing', () => {
  test("what the twilio SDK's VoiceResponse writes parses, entities and all", () => {
    const response = new twilio.twiml.VoiceResponse();
    response.say('Tom & Jerry say "hi" <3');
    response.pause({ length: 2 });
    const dial = response.dial({ timeout: 15, action: 'https://dialer.example/dial?attempt=1&x=2' });
    dial.client('agent-7');
    dial.number('+15550001111');
    response.hangup();
    const verbs = parseTwiml(response.toString());
    assert.deepEqual(
      verbs.map((v) => v.verb),
      ['Say', 'Pause', 'Dial', 'Hangup'],
    );
    assert.deepEqual(verbs[0], { verb: 'Say', text: 'Tom & Jerry say "hi" <3', seconds: 2.4 });
    assert.deepEqual(verbs[1], { verb: 'Pause', seconds: 2 });
    assert.deepEqual(verbs[2], {
      verb: 'Dial',
      timeoutSeconds: 15,
      action: 'https://dialer.example/dial?attempt=1&x=2',
      method: 'POST',
      targets: [
        { kind: 'client', key: 'client:agent-7' },
        { kind: 'number', key: '+15550001111' },
      ],
    });
  });

  test('comments, CDATA, character references and an empty response', () => {
    assert.deepEqual(parseTwiml('<Response/>'), []);
    const verbs = parseTwiml(
      "<?xml version='1.0'?><!-- hi --><Response><Say><![CDATA[a < b]]> &#233;&#x41;</Say><Dial>+15550002222</Dial></Response>",
    );
    assert.equal(verbs[0]?.verb === 'Say' && verbs[0].text, 'a < b éA');
    assert.deepEqual(verbs[1]?.verb === 'Dial' && verbs[1].targets, [
      { kind: 'number', key: '+15550002222' },
    ]);
  });

  test('malformed documents are rejected with a reason', () => {
    const bad: [string, RegExp][] = [
      ['<Response><Say>hi</Response>', /does not close <Say>/],
      ['<Response><Say>&nbsp;</Say></Response>', /unknown entity/],
      ['<Hello/>', /not <Response>/],
      ['<!DOCTYPE x><Response/>', /DOCTYPE/],
      ['<Response><Dial timeout="-1"><Client>a</Client></Dial></Response>', /timeout/],
      ['<Response><Dial></Dial></Response>', /nothing to dial/],
      ['<Response>text</Response>', /text directly inside/],
      ['<Response a=1/>', /quoted/],
      ['<Response/><Response/>', /after the root/],
    ];
    for (const [xml, reason] of bad) {
      assert.throws(
        () => parseTwiml(xml),
        (err: Error) => err instanceof TwimlParseError && reason.test(err.message),
        xml,
      );
    }
  });

  test('unknown verbs are kept as unsupported, not fatal', () => {
    assert.deepEqual(parseTwiml('<Response><Gather/><Hangup/></Response>'), [
      { verb: 'Unsupported', name: 'Gather' },
      { verb: 'Hangup' },
    ]);
    assert.equal(parseXml('<a x="1" y=\'2\'>t<b/></a>').attrs.y, '2');
  });
});
