import assert from 'node:assert/strict';
import { PresenceWatch, type Follower } from '../../services/connect/domain/presence-watch.js';

function setup() {
  const announced: string[] = [];
  const timers: Array<{ fn: () => void; ms: number; cancelled?: boolean }> = [];
  const watch = new PresenceWatch({
    debounceMs: 3000,
    announce: (add, remove) => announced.push(`+${add.join(',')} -${remove.join(',')}`),
    setTimer: (fn, ms) => {
      const t = { fn, ms };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => ((t as { cancelled?: boolean }).cancelled = true),
  });
  const follower = (id: string): Follower & { got: string[] } => {
    const got: string[] = [];
    return { id, got, deliver: (f) => got.push(`${f.user}:${f.online ? 'on' : 'off'}`) > 0 };
  };
  const runTimers = () => {
    for (const t of timers.splice(0)) if (!t.cancelled) t.fn();
  };
  return { watch, announced, follower, runTimers, timers };
}

describe('PresenceWatch (Connect: the users its clients follow)', () => {
  it('announces a user once however many follow them, and no more once the last stops', () => {
    const { watch, announced, follower } = setup();
    const [a, b] = [follower('a'), follower('b')];
    watch.follow(a, ['u1', 'u2'], [true, false]);
    watch.follow(b, ['u2', 'u3'], [false, true]);
    watch.follow(a, ['u2'], [false]);
    watch.forget(b);
    watch.forget(a);
    assert.deepEqual(announced, ['+u1,u2 -', '+u3 -', '+ -u1', '+ -u3', '+ -u2']);
    assert.deepEqual(watch.users, []);
  });

  it('forwards each change once though every pod pushes it, going offline only after the debounce, and a blip not at all', () => {
    const { watch, follower, runTimers, timers } = setup();
    const [a, b] = [follower('a'), follower('b')];
    watch.follow(a, ['u1'], [true]);
    watch.follow(b, ['u1'], [true]);
    // Offline, pushed by two pods: one timer, told after it.
    watch.changed({ user: 'u1', online: false });
    watch.changed({ user: 'u1', online: false });
    assert.deepEqual([a.got, b.got], [[], []]);
    assert.equal(timers.filter((t) => !t.cancelled).length, 1);
    runTimers();
    assert.deepEqual([a.got, b.got], [['u1:off'], ['u1:off']]);
    // Online again (two pods): told once.
    watch.changed({ user: 'u1', online: true });
    watch.changed({ user: 'u1', online: true });
    assert.deepEqual(a.got, ['u1:off', 'u1:on']);
    // A reconnect blip: offline then online within the debounce: nothing.
    watch.changed({ user: 'u1', online: false });
    watch.changed({ user: 'u1', online: true });
    runTimers();
    assert.deepEqual(a.got, ['u1:off', 'u1:on']);
    // Nobody follows u9: ignored.
    watch.changed({ user: 'u9', online: true });
    assert.deepEqual(b.got, ['u1:off', 'u1:on']);
  });
});
