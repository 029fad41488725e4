/**
 * Dialing modes as numbers: the calls in flight each mode allows for a
 * campaign's agents, and predictive's binomial rule. Pure; the running modes are in
 * dialing-modes.test.ts and the benchmark in bench/pacing.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type PacingStats, expectedOverflow, pace, predictiveCalls } from '../domain/pacing';

const agents = (free: number, onCall = 0, freeSoon = 0) => ({
  assigned: free + onCall + freeSoon,
  free,
  onCall,
  freeSoon,
});
const opts = { callsPerAgent: 2.5, abandonTarget: 0.03 };
const stats = (
  placed: number,
  live: number,
  abandons = 0,
  ring: number | null = null,
  talk: number | null = null,
): PacingStats => ({
  placed,
  liveAnswers: live,
  abandons,
  meanRingSeconds: ring,
  meanTalkSeconds: talk,
});

describe('calls in flight per mode', () => {
  test('agentless, or no agents assigned: lines alone', () => {
    assert.equal(pace('agentless', agents(5), opts).capacity, null);
    assert.equal(pace('predictive', agents(0), opts).capacity, null);
  });

  test('progressive and preview: the agents on calls plus one per free agent', () => {
    assert.equal(pace('progressive', agents(4, 3), opts).capacity, 7);
    assert.equal(pace('preview', agents(4, 3), opts).capacity, 7);
    assert.equal(pace('progressive', agents(0, 3), opts).capacity, 3, 'none free: no new call');
  });

  test('power: calls_per_agent per free agent, rounded down', () => {
    assert.equal(pace('power', agents(4, 3), opts).capacity, 3 + 10);
    assert.equal(pace('power', agents(1), opts).capacity, 2);
  });

  test('predictive with too little history dials progressively', () => {
    assert.equal(pace('predictive', agents(10), { ...opts, stats: stats(10, 5) }).capacity, 10);
  });

  test('predictive rings more calls the lower the answer rate', () => {
    const at = (rate: number) =>
      pace('predictive', agents(20), { ...opts, stats: stats(200, Math.round(200 * rate)) }).capacity!;
    assert.ok(at(0.2) > at(0.5), `${at(0.2)} calls at 20 %, ${at(0.5)} at 50 %`);
    assert.ok(at(0.5) > 20 && at(0.2) <= 100);
  });

  test('predictive counts agents likely to come free while a call rings', () => {
    const s = stats(200, 60, 0, 20, 40); // calls ring 20 s, talk 40 s: half the busy agents
    const busy = pace('predictive', agents(2, 10), { ...opts, stats: s }).capacity!;
    const none = pace('predictive', agents(2, 10), { ...opts, stats: stats(200, 60) }).capacity!;
    assert.ok(busy > none, `${busy} with ring and talk times, ${none} without`);
  });

  test('abandons observed above the target make predictive more careful', () => {
    const calm = pace('predictive', agents(20), { ...opts, stats: stats(200, 60, 0) }).capacity!;
    const hot = pace('predictive', agents(20), { ...opts, stats: stats(200, 60, 6) }).capacity!;
    assert.ok(hot < calm, `${hot} after 10 % abandons, ${calm} before`);
    assert.ok(hot >= 20, 'never below one call per free agent');
  });
});

describe('predictive’s binomial rule', () => {
  test('E[(X − k)+] against a direct sum', () => {
    // X ~ Bin(3, 0.5): P = 1/8, 3/8, 3/8, 1/8; (X − 1)+ = 0, 0, 1, 2 → 3/8 + 2/8
    assert.ok(Math.abs(expectedOverflow(3, 0.5, 1) - 5 / 8) < 1e-12);
    assert.equal(expectedOverflow(4, 0.3, 4), 0);
  });

  test('the calls it picks keep the expected abandons at or under the target, and one more would not', () => {
    for (const [k, p] of [
      [20, 0.3],
      [5, 0.5],
      [50, 0.15],
    ] as const) {
      const n = predictiveCalls(k, p, 0.03);
      assert.ok(n >= k);
      assert.ok(expectedOverflow(n, p, k) <= 0.03 * n * p, `k ${k}, p ${p}: n ${n}`);
      if (n < k * 5) assert.ok(expectedOverflow(n + 1, p, k) > 0.03 * (n + 1) * p);
    }
    assert.equal(predictiveCalls(0, 0.3, 0.03), 0, 'no agent expected free: no call');
  });
});
