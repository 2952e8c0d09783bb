import assert from 'node:assert/strict';
import { directConversation, directMembers, directPeer, isClientId, isConversationId, isUnambiguousDirect, isUserId } from '../../services/shared/ids.js';

describe('ids', () => {
  it('validates user ids: 1-64 of [A-Za-z0-9_.:@-]', () => {
    for (const ok of ['1001', 'a', 'alice@example.com', 'x.y_z-1:2', 'a'.repeat(64)]) assert.equal(isUserId(ok), true, ok);
    for (const bad of ['', 'a'.repeat(65), 'has space', 'ünï', 'a/b', 12, null, undefined]) assert.equal(isUserId(bad), false, String(bad));
  });

  it('builds the direct conversation in string order', () => {
    assert.equal(directConversation('1001', '1002'), 'dm:1001:1002');
    assert.equal(directConversation('1002', '1001'), 'dm:1001:1002');
    assert.equal(directConversation('b', 'a'), 'dm:a:b');
    assert.equal(directConversation('10', '9'), 'dm:10:9'); // string order, not numeric
  });

  it('finds the peer only for members, also with ":" in user ids', () => {
    assert.equal(directPeer('dm:1001:1002', '1001'), '1002');
    assert.equal(directPeer('dm:1001:1002', '1002'), '1001');
    assert.equal(directPeer('dm:1001:1002', '1003'), undefined);
    assert.equal(directPeer('dm:1001:1002', '100'), undefined);
    const c = directConversation('z:a', 'zz'); // dm:z:a:zz: only (z:a, zz) is in order
    assert.equal(directPeer(c, 'z:a'), 'zz');
    assert.equal(directPeer(c, 'zz'), 'z:a');
    assert.equal(directPeer(c, 'z'), undefined);
    assert.equal(directPeer('dm:b:a', 'a'), undefined); // not in canonical order: not a real dm id
    assert.equal(directPeer('group:1', '1'), undefined);
  });

  it("treats a dm id that names two pairs as nobody's conversation", () => {
    const c = directConversation('a:b', 'c');
    assert.equal(c, directConversation('a', 'b:c'));
    assert.deepEqual(directMembers(c), [
      ['a', 'b:c'],
      ['a:b', 'c'],
    ]);
    for (const u of ['a', 'b:c', 'a:b', 'c']) assert.equal(directPeer(c, u), undefined, u);
    assert.equal(isUnambiguousDirect('a:b', 'c'), false);
    assert.equal(isUnambiguousDirect('1001', '1002'), true);
  });

  it('accepts conversation ids up to a dm of two 64-character users', () => {
    assert.equal(isConversationId(directConversation('a'.repeat(64), 'b'.repeat(64))), true);
    assert.equal(isConversationId('x'.repeat(133)), false);
    assert.equal(isConversationId('dm:a b'), false);
  });

  it('validates client ids: 1-64 printable ASCII', () => {
    assert.equal(isClientId('550e8400-e29b-41d4-a716-446655440000'), true);
    assert.equal(isClientId('a'.repeat(65)), false);
    assert.equal(isClientId(''), false);
    assert.equal(isClientId('with space'), false);
    assert.equal(isClientId(7), false);
  });
});
