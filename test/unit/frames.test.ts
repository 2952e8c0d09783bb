import assert from 'node:assert/strict';
import { FrameError, parseClientFrame } from '../../services/connect/domain/frames.js';

const limits = { maxBodyBytes: 4096, syncDefaultLimit: 100, syncMaxLimit: 500 };
const parse = (v: unknown) => parseClientFrame(typeof v === 'string' ? v : JSON.stringify(v), limits);
function fails(v: unknown, code: string, message: RegExp, id?: string): void {
  assert.throws(
    () => parse(v),
    (e: unknown) => e instanceof FrameError && e.error.code === code && message.test(e.message) && e.id === id,
    `${JSON.stringify(v)} should fail with ${code}`,
  );
}

describe('client frame validation', () => {
  it('parses every frame type, applying defaults and ignoring extra fields', () => {
    assert.deepEqual(parse({ type: 'send', id: 's1', to: '1002', body: 'hi', from: 'mallory' }), { type: 'send', id: 's1', to: '1002', body: 'hi' });
    assert.deepEqual(parse({ type: 'sync', id: 'r1', conversation: 'dm:1:2' }), { type: 'sync', id: 'r1', conversation: 'dm:1:2', after: 0, limit: 100 });
    assert.deepEqual(parse({ type: 'sync', id: 'r1', conversation: 'dm:1:2', after: 6, limit: 500 }), {
      type: 'sync',
      id: 'r1',
      conversation: 'dm:1:2',
      after: 6,
      limit: 500,
    });
    assert.deepEqual(parse({ type: 'conversations', id: 'r2' }), { type: 'conversations', id: 'r2' });
    assert.deepEqual(parse({ type: 'read', id: 'r3', conversation: 'dm:1:2', seq: 7, user: 'mallory' }), {
      type: 'read',
      id: 'r3',
      conversation: 'dm:1:2',
      seq: 7,
    });
    assert.deepEqual(parse({ type: 'ping', id: 'p' }), { type: 'ping', id: 'p' });
    assert.deepEqual(parse({ type: 'ping' }), { type: 'ping' });
    assert.deepEqual(parse({ type: 'send', id: 's2', conversation: 'grp:g', body: 'all' }), { type: 'send', id: 's2', conversation: 'grp:g', body: 'all' });
    // A membership change carries the kind its message will carry.
    assert.deepEqual(parse({ type: 'group.create', id: 'g1', members: ['b', 'c'] }), {
      type: 'group',
      id: 'g1',
      change: { kind: 'created', title: '' },
      members: ['b', 'c'],
    });
    assert.deepEqual(parse({ type: 'group.create', id: 'g0' }), { type: 'group', id: 'g0', change: { kind: 'created', title: '' }, members: [] });
    assert.deepEqual(parse({ type: 'group.create', id: 'g0', title: 'Trip' }), {
      type: 'group',
      id: 'g0',
      change: { kind: 'created', title: 'Trip' },
      members: [],
    });
    assert.deepEqual(parse({ type: 'group.title', id: 'g5', conversation: 'grp:g', title: 'Trip 2027' }), {
      type: 'group',
      id: 'g5',
      change: { kind: 'titled', conversation: 'grp:g', title: 'Trip 2027' },
      members: [],
    });
    // An edit and a deletion name the message by its seq; a deletion's body is ignored.
    assert.deepEqual(parse({ type: 'edit', id: 'e1', conversation: 'dm:1:2', seq: 7, body: 'fixed' }), {
      type: 'change',
      id: 'e1',
      kind: 'edited',
      conversation: 'dm:1:2',
      seq: 7,
      body: 'fixed',
    });
    assert.deepEqual(parse({ type: 'delete', id: 'd1', conversation: 'grp:g', seq: 3, body: 'x' }), {
      type: 'change',
      id: 'd1',
      kind: 'deleted',
      conversation: 'grp:g',
      seq: 3,
      body: '',
    });
    for (const [type, kind] of [
      ['group.add', 'added'],
      ['group.remove', 'removed'],
    ] as const) {
      assert.deepEqual(parse({ type, id: 'g2', conversation: 'grp:g', members: ['d'] }), {
        type: 'group',
        id: 'g2',
        change: { kind, conversation: 'grp:g' },
        members: ['d'],
      });
    }
    assert.deepEqual(parse({ type: 'group.leave', id: 'g3', conversation: 'grp:g', members: ['x'] }), {
      type: 'group',
      id: 'g3',
      change: { kind: 'left', conversation: 'grp:g' },
      members: [],
    });
    assert.deepEqual(parse({ type: 'group.members', id: 'g4', conversation: 'grp:g' }), { type: 'group.members', id: 'g4', conversation: 'grp:g' });
  });

  it('BAD_REQUEST for malformed frames', () => {
    fails('{not json', 'BAD_REQUEST', /not valid JSON/);
    fails('[1,2]', 'BAD_REQUEST', /JSON object/);
    fails('null', 'BAD_REQUEST', /JSON object/);
    fails('"send"', 'BAD_REQUEST', /JSON object/);
    fails({ id: 'x' }, 'BAD_REQUEST', /string "type"/, 'x');
    fails({ type: 'explode', id: 'x' }, 'BAD_REQUEST', /unknown frame type "explode"/, 'x');
    fails({ type: '__proto__' }, 'BAD_REQUEST', /unknown frame type/);
  });

  it('ignores __proto__ / constructor keys without polluting prototypes', () => {
    const f = parse('{"type":"send","id":"x","to":"b","body":"hi","__proto__":{"polluted":true},"constructor":{"prototype":{"p2":1}}}');
    assert.deepEqual(f, { type: 'send', id: 'x', to: 'b', body: 'hi' });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).p2, undefined);
  });

  it('BAD_REQUEST for bad fields, naming the field and keeping the id when valid', () => {
    fails({ type: 'send', to: 'b', body: 'hi' }, 'BAD_REQUEST', /"id"/);
    fails({ type: 'send', id: 'x'.repeat(65), to: 'b', body: 'hi' }, 'BAD_REQUEST', /"id"/);
    fails({ type: 'send', id: 's', to: 'bad user', body: 'hi' }, 'BAD_REQUEST', /"to"/, 's');
    fails({ type: 'send', id: 's', to: 'b', body: 7 }, 'BAD_REQUEST', /"body" must be a string/, 's');
    fails({ type: 'send', id: 's', to: 'b', body: '' }, 'BAD_REQUEST', /"body" must not be empty/, 's');
    fails({ type: 'sync', id: 'r', conversation: 'has space' }, 'BAD_REQUEST', /"conversation"/, 'r');
    fails({ type: 'sync', id: 'r', conversation: 'dm:a:b', after: -1 }, 'BAD_REQUEST', /"after"/, 'r');
    fails({ type: 'sync', id: 'r', conversation: 'dm:a:b', after: 1.5 }, 'BAD_REQUEST', /"after"/, 'r');
    fails({ type: 'sync', id: 'r', conversation: 'dm:a:b', limit: 501 }, 'BAD_REQUEST', /"limit" must be an integer 1-500/, 'r');
    fails({ type: 'sync', id: 'r', conversation: 'dm:a:b', limit: '5' }, 'BAD_REQUEST', /"limit"/, 'r');
    fails({ type: 'conversations' }, 'BAD_REQUEST', /"id"/);
    fails({ type: 'ping', id: 5 }, 'BAD_REQUEST', /"id"/);
  });

  it('presence: an id and at most 100 user ids (empty: follow no one), repeats dropped', () => {
    assert.deepEqual(parse({ type: 'presence', id: 'p', users: ['a', 'b', 'a'] }), { type: 'presence', id: 'p', users: ['a', 'b'] });
    assert.deepEqual(parse({ type: 'presence', id: 'p', users: [] }), { type: 'presence', id: 'p', users: [] });
    fails({ type: 'presence', users: ['a'] }, 'BAD_REQUEST', /"id"/);
    fails({ type: 'presence', id: 'p' }, 'BAD_REQUEST', /"users" must be an array of at most 100 user ids/, 'p');
    fails({ type: 'presence', id: 'p', users: ['no spaces'] }, 'BAD_REQUEST', /"users"/, 'p');
    fails({ type: 'presence', id: 'p', users: Array.from({ length: 101 }, (_, i) => `u${i}`) }, 'BAD_REQUEST', /at most 100/, 'p');
  });

  it('typing: the id is optional; a conversation is required', () => {
    assert.deepEqual(parse({ type: 'typing', conversation: 'dm:1:2' }), { type: 'typing', conversation: 'dm:1:2' });
    assert.deepEqual(parse({ type: 'typing', id: 't', conversation: 'grp:g' }), { type: 'typing', id: 't', conversation: 'grp:g' });
    fails({ type: 'typing' }, 'BAD_REQUEST', /"conversation" must be a conversation id/);
    fails({ type: 'typing', id: 't', conversation: 'no spaces' }, 'BAD_REQUEST', /"conversation" must be a conversation id/, 't');
    fails({ type: 'typing', id: '', conversation: 'dm:1:2' }, 'BAD_REQUEST', /"id"/);
  });

  it('BAD_REQUEST for a read without an id, a conversation or a positive integer seq', () => {
    fails({ type: 'read', conversation: 'dm:1:2', seq: 1 }, 'BAD_REQUEST', /"id"/);
    fails({ type: 'read', id: 'r', seq: 1 }, 'BAD_REQUEST', /"conversation" must be a conversation id/, 'r');
    fails({ type: 'read', id: 'r', conversation: 'not an id!', seq: 1 }, 'BAD_REQUEST', /"conversation" must be a conversation id/, 'r');
    for (const seq of [0, -1, 1.5, '3', null, undefined, 2 ** 53])
      fails({ type: 'read', id: 'r', conversation: 'dm:1:2', seq }, 'BAD_REQUEST', /"seq" must be an integer ≥ 1/, 'r');
  });

  it('BAD_REQUEST for an edit or a delete without an id, a conversation, a seq ≥ 1 or (edit) a new body; TOO_LARGE for a long one', () => {
    for (const type of ['edit', 'delete']) {
      fails({ type, conversation: 'dm:1:2', seq: 1, body: 'x' }, 'BAD_REQUEST', /"id"/);
      fails({ type, id: 'e', seq: 1, body: 'x' }, 'BAD_REQUEST', /"conversation" must be a conversation id/, 'e');
      for (const seq of [0, 1.5, '2', undefined])
        fails({ type, id: 'e', conversation: 'dm:1:2', seq, body: 'x' }, 'BAD_REQUEST', /"seq" must be an integer ≥ 1/, 'e');
    }
    for (const body of ['', 5, undefined])
      fails({ type: 'edit', id: 'e', conversation: 'dm:1:2', seq: 1, body }, 'BAD_REQUEST', /"body" must be a non-empty string/, 'e');
    fails({ type: 'edit', id: 'e', conversation: 'dm:1:2', seq: 1, body: 'x'.repeat(4097) }, 'TOO_LARGE', /4097 bytes/, 'e');
  });

  it('BAD_REQUEST for a group title that is missing, empty, not a string or over 100 characters', () => {
    fails({ type: 'group.title', id: 't', title: 'x' }, 'BAD_REQUEST', /"conversation"/, 't');
    for (const title of [undefined, '', '   ', 5])
      fails({ type: 'group.title', id: 't', conversation: 'grp:g', title }, 'BAD_REQUEST', /"title" must be a non-empty string/, 't');
    fails({ type: 'group.title', id: 't', conversation: 'grp:g', title: 'x'.repeat(101) }, 'BAD_REQUEST', /101 characters; the limit is 100/, 't');
    fails({ type: 'group.create', id: 't', title: 7 }, 'BAD_REQUEST', /"title"/, 't');
  });

  it('TOO_LARGE for a body over the byte limit (UTF-8 bytes, not characters)', () => {
    assert.equal(parse({ type: 'send', id: 's', to: 'b', body: 'x'.repeat(4096) }).type, 'send');
    fails({ type: 'send', id: 's', to: 'b', body: 'x'.repeat(4097) }, 'TOO_LARGE', /4097 bytes; the limit is 4096/, 's');
    fails({ type: 'send', id: 's', to: 'b', body: '€'.repeat(1366) }, 'TOO_LARGE', /4098 bytes/, 's');
  });
});
