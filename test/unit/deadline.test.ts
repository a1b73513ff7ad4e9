// src/net/deadline.ts: a connection's timeout (P2 header/idle timeouts, O1 origin timeouts) fires
// once, at the last deadline it was given, however often it was moved.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadline } from '../../src/net/deadline.js';

describe('Deadline', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires once, ms after it was armed', () => {
    const deadline = new Deadline();
    const fired = vi.fn();
    deadline.arm(100, fired);
    expect(deadline.armed).toBe(true);
    vi.advanceTimersByTime(99);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    expect(deadline.armed).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('moved later, it fires at the new deadline only, with the callback it was given last', () => {
    const deadline = new Deadline();
    const first = vi.fn();
    const second = vi.fn();
    deadline.arm(100, first);
    vi.advanceTimersByTime(60);
    deadline.arm(100, second); // due at 160
    expect(vi.getTimerCount()).toBe(1); // the pending Timeout is kept, not replaced
    vi.advanceTimersByTime(99); // t = 159
    expect(first).not.toHaveBeenCalled();
    expect(second).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(second).toHaveBeenCalledTimes(1);
    expect(first).not.toHaveBeenCalled();
  });

  it('moved earlier, it fires at the earlier deadline', () => {
    const deadline = new Deadline();
    const fired = vi.fn();
    deadline.arm(1000, () => {});
    deadline.arm(10, fired);
    vi.advanceTimersByTime(10);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('disarmed, it never fires; armed again, it fires at the new deadline', () => {
    const deadline = new Deadline();
    const fired = vi.fn();
    deadline.arm(50, fired);
    deadline.disarm();
    expect(deadline.armed).toBe(false);
    vi.advanceTimersByTime(200);
    expect(fired).not.toHaveBeenCalled();
    deadline.arm(50, fired);
    vi.advanceTimersByTime(50);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('arm(0) disarms; stop() leaves no Timeout behind', () => {
    const deadline = new Deadline();
    const fired = vi.fn();
    deadline.arm(50, fired);
    deadline.arm(0, fired);
    vi.advanceTimersByTime(100);
    expect(fired).not.toHaveBeenCalled();
    deadline.arm(50, fired);
    deadline.stop();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(100);
    expect(fired).not.toHaveBeenCalled();
  });

  it('a callback may re-arm its own deadline', () => {
    const deadline = new Deadline();
    let count = 0;
    const tick = (): void => {
      count++;
      if (count < 3) deadline.arm(10, tick);
    };
    deadline.arm(10, tick);
    vi.advanceTimersByTime(100);
    expect(count).toBe(3);
  });
});
