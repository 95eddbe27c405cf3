import { describe, expect, it } from 'vitest';
import { FlowErrorCode } from '../../../src/errors.js';
import { Budget, CostLedger } from '../../../src/router/index.js';

describe('Budget', () => {
  it('refuses a start that would take spent + estimate over the cap', () => {
    const b = new Budget({ maxCost: 0.1, spent: 0.08 });
    expect(b.canStart(0.02).ok).toBe(true);
    const no = b.canStart(0.03);
    expect(no.ok).toBe(false);
    expect(no.reason).toContain('would exceed the flow budget');
  });

  it('counts in-flight reservations, so concurrent agents cannot all start past the cap', () => {
    const b = new Budget({ maxCost: 0.1 });
    const starts = Array.from({ length: 5 }, (_, i) => b.reserve(0.03, `agent-${i}`));
    expect(starts.map((s) => s.ok)).toEqual([true, true, true, false, false]);
    expect(b.inFlight).toBeCloseTo(0.09, 12);
    expect(b.remaining).toBeCloseTo(0.01, 12);
    // canStart alone reserves nothing
    expect(b.canStart(0.01).ok).toBe(true);
    expect(b.canStart(0.01).ok).toBe(true);
    expect(b.inFlight).toBeCloseTo(0.09, 12);

    // one finishes cheaper than estimated: its hold is released and room opens up
    b.commit(0.005, 'agent-0');
    expect(b.spent).toBeCloseTo(0.005, 12);
    expect(b.inFlight).toBeCloseTo(0.06, 12);
    expect(b.reserve(0.03).ok).toBe(true);
    expect(b.reserve(0.01).ok).toBe(false);
  });

  it('releases a hold without charging, and refuses to commit one twice', () => {
    const b = new Budget({ maxCost: 1 });
    const r = b.reserve(0.5);
    expect(r.ok && r.id).toBe('r1');
    b.release('r1');
    expect(b.inFlight).toBe(0);
    expect(b.spent).toBe(0);
    expect(() => b.commit(0.1, 'r1')).toThrow(expect.objectContaining({ code: FlowErrorCode.Internal }));
    expect(b.spent).toBe(0);
  });

  it('is never silently over: an overrun sets exceeded and blocks every later start', () => {
    const b = new Budget({ maxCost: 0.1 });
    const r = b.reserve(0.05);
    expect(r.ok).toBe(true);
    b.commit(0.12, r.id);
    expect(b.exceeded).toBe(true);
    expect(b.remaining).toBe(0);
    const later = b.canStart(0);
    expect(later).toMatchObject({ ok: false });
    expect(later.reason).toContain('exceeded');
  });

  it('update() raises a hold to the cost so far and reports an overrun mid-flight', () => {
    const b = new Budget({ maxCost: 0.1 });
    const a = b.reserve(0.02, 'a');
    const c = b.reserve(0.02, 'c');
    expect(a.ok && c.ok).toBe(true);
    expect(b.update('a', 0.01).ok).toBe(true); // below its estimate: the hold stays 0.02
    expect(b.inFlight).toBeCloseTo(0.04, 12);
    expect(b.update('a', 0.07).ok).toBe(true); // 0.07 + 0.02
    expect(b.reserve(0.02).ok).toBe(false); // others see the running cost
    const over = b.update('a', 0.09);
    expect(over.ok).toBe(false);
    expect(over.reason).toContain('overrun');
  });

  it('applies the per-task cap', () => {
    const b = new Budget({ maxCostPerTask: 0.05 });
    expect(b.canStart(0.05).ok).toBe(true);
    expect(b.canStart(0.06)).toMatchObject({ ok: false });
    expect(b.canStart(0.06).reason).toContain('maxCostPerTask');
    expect(b.remaining).toBe(Number.POSITIVE_INFINITY);
  });

  it('tolerates float residue at the cap ($0.1 + $0.2 fits $0.3)', () => {
    const b = new Budget({ maxCost: 0.3, spent: 0.1 });
    expect(b.reserve(0.2).ok).toBe(true);
  });

  it('charges a ledger delta once, however often a message is re-read', () => {
    const ledger = new CostLedger();
    const b = Budget.fromConfig({ maxCost: 0.05 });
    const r = b.reserve(0.02, 'coder#1');
    const msg = {
      agent: 'coder',
      model: 'openai/gpt-5-mini',
      sessionID: 's',
      messageID: 'm',
      cost: 0.015,
      tokens: { input: 1, output: 1 },
    };
    b.commit(ledger.record(msg).delta, r.id);
    b.commit(ledger.record(msg).delta); // a re-read
    expect(b.spent).toBeCloseTo(0.015, 12);
    expect(b.toJSON()).toEqual({ maxCost: 0.05, spent: 0.015, inFlight: 0, exceeded: false });
  });

  it('rejects nonsense amounts', () => {
    expect(() => new Budget({ maxCost: -1 })).toThrow(expect.objectContaining({ code: FlowErrorCode.InvalidConfig }));
    expect(() => new Budget().canStart(Number.NaN)).toThrow(
      expect.objectContaining({ code: FlowErrorCode.InvalidConfig }),
    );
  });
});
