import assert from 'node:assert/strict';
import type { PresenceStore } from '../../services/message/adapters/presence.js';

export interface PresenceFixture {
  presence: PresenceStore;
  advance(ms: number): void;
  close(): Promise<void>;
}

/** The behaviour every PresenceStore must have, run against each implementation. */
export function presenceContract(name: string, make: () => Promise<PresenceFixture>): void {
  describe(`PresenceStore contract: ${name}`, function () {
    this.timeout(30_000);
    let f: PresenceFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.close();
    });
    const sorted = async (users: string[]) => Object.fromEntries([...(await f.presence.lookup(users))].map(([u, i]) => [u, [...i].sort()]));

    it('finds every live instance of a user and nothing for others', async () => {
      await f.presence.refresh('c1', ['u1', 'u2'], 10_000);
      await f.presence.refresh('c2', ['u1'], 10_000);
      assert.deepEqual(await sorted(['u1', 'u2', 'u3']), { u1: ['c1', 'c2'], u2: ['c1'] });
    });

    it('expires entries after their TTL unless refreshed', async () => {
      await f.presence.refresh('c1', ['u1'], 1000);
      await f.presence.refresh('c2', ['u1'], 1000);
      f.advance(800);
      await f.presence.refresh('c1', ['u1'], 1000);
      f.advance(400);
      assert.deepEqual(await sorted(['u1']), { u1: ['c1'] });
      f.advance(1000);
      assert.deepEqual(await sorted(['u1']), {});
    });

    it('removes entries of one instance only', async () => {
      await f.presence.refresh('c1', ['u1', 'u2'], 10_000);
      await f.presence.refresh('c2', ['u2'], 10_000);
      await f.presence.remove('c1', ['u1', 'u2']);
      assert.deepEqual(await sorted(['u1', 'u2']), { u2: ['c2'] });
    });

    it('answers the same epoch for as long as it keeps its entries', async () => {
      const first = await f.presence.epoch();
      assert.ok(first.length > 0);
      await f.presence.refresh('c1', ['u1'], 10_000);
      assert.equal(await f.presence.epoch(), first);
    });

    it('handles empty lists and many users in one call', async () => {
      await f.presence.refresh('c1', [], 1000);
      assert.deepEqual(await sorted([]), {});
      const users = Array.from({ length: 500 }, (_, i) => `bulk${i}`);
      await f.presence.refresh('c9', users, 10_000);
      const found = await f.presence.lookup(users);
      assert.equal(found.size, 500);
    });
  });
}
