// @ts-check
/**
 * The chat client's protocol logic (docs/PROTOCOL.md §2–§5), shared by the terminal client and the
 * browser page. Plain ES module with JSDoc types: browsers load it as is (no build step, the
 * gateway serves services/ files at the same relative paths) and Node imports it. It owns no socket and no timer of its own: the host injects how to open a
 * socket, the clock, the timers, the random source and the reconnect policy.
 *
 * What it guarantees to its host:
 *  - messages are shown once each, in seq order per conversation: a push that skips seqs is held
 *    back until a `sync` fills the gap, and anything at or below the last shown seq is dropped;
 *  - after every (re)connect and every `resync`, it catches up with `conversations` + `sync`;
 *    the first time only the last `historyLimit` messages of each conversation;
 *  - sends carry a client id and stay queued until `accepted`: on UNAVAILABLE or a lost
 *    connection they are sent again with the same id (the server answers a repeat with the same
 *    msgId and stores nothing twice), one at a time per conversation so their order survives;
 *  - the socket is reopened with the injected backoff after any loss, until `stop()`.
 */

import { ReconnectPolicy } from '../../shared/backoff.js';

export { SUBPROTOCOL } from '../../shared/ws-protocol.js';

/** The close code of a user the application disconnected for good (the server API's Disconnect): not reconnected by itself. */
export const DISCONNECTED_FINAL = 4403;
/**
 * A group membership message in words, after its sender's name: "created the group with b, c",
 * "added c", "removed c", "left".
 * @param {string} kind @param {readonly string[]} members @param {string} [from] the sender (not repeated among the first members)
 */
export function describeMembership(kind, members, from) {
  switch (kind) {
    case 'created': {
      const others = members.filter((m) => m !== from);
      return others.length > 0 ? `created the group with ${others.join(', ')}` : 'created the group';
    }
    case 'added':
      return `added ${members.join(', ')}`;
    case 'removed':
      return `removed ${members.join(', ')}`;
    case 'left':
      return 'left';
    default:
      return `${kind} ${members.join(', ')}`;
  }
}

/** Codes after which a send is final (retrying the same frame cannot succeed). */
const FINAL_SEND_ERRORS = new Set(['BAD_REQUEST', 'TOO_LARGE', 'FORBIDDEN', 'INTERNAL']);
/** How long a gap may stay unexplained by `sync` before the held messages are shown anyway. */
const GAP_RETRIES = 3;

/**
 * @typedef {object} ChatMessage
 * @property {string} msgId
 * @property {string} conversation
 * @property {number} seq
 * @property {string} from
 * @property {string} to
 * @property {string} body
 * @property {number} ts
 * @property {string} [id]
 * @property {string} [kind]  a group membership message: created, added, removed or left
 * @property {string[]} [members]  the users it names
 */

/**
 * @typedef {object} Frame
 * @property {string} type
 * @property {string} [id]
 * @property {string} [code]
 * @property {string} [message]
 * @property {string} [user]
 * @property {string} [to]
 * @property {string} [body]
 * @property {number} [after]
 * @property {number} [limit]
 * @property {string} [connection]
 * @property {string} [instance]
 * @property {string} [msgId]
 * @property {string} [conversation]
 * @property {number} [seq]
 * @property {number} [ts]
 * @property {ChatMessage[]} [messages]
 * @property {boolean} [hasMore]
 * @property {Array<{conversation: string, lastSeq: number}>} [items]
 * @property {string[]} [members]
 */

/**
 * A socket as the core needs it; the host adapts `ws` or the browser's WebSocket.
 * @typedef {object} CoreSocket
 * @property {(text: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 */

/**
 * Callbacks the host's socket factory calls.
 * @typedef {object} SocketHandlers
 * @property {() => void} onOpen
 * @property {(text: string) => void} onMessage
 * @property {(code: number, reason: string, refusal?: {status: number, message: string}) => void} onClose
 */

/**
 * What the core reports to its host.
 * @typedef {{kind: 'connecting', attempt: number}
 *   | {kind: 'connected', user: string, connection: string, instance: string, reconnect: boolean}
 *   | {kind: 'disconnected', code: number, reason: string, retryInMs: number}
 *   | {kind: 'refused', status: number, message: string}
 *   | {kind: 'message', message: ChatMessage, live: boolean}
 *   | {kind: 'accepted', id: string, msgId: string, conversation: string, to: string, body: string}
 *   | {kind: 'send-failed', id: string, to: string, body: string, code: string, message: string}
 *   | {kind: 'send-retry', id: string, to: string, code: string}
 *   | {kind: 'caught-up'}
 *   | {kind: 'history-reset', conversation: string}
 *   | {kind: 'error', code: string, message: string}
 *   | {kind: 'group', action: GroupAction, conversation: string, members?: string[]}
 *   | {kind: 'frame', frame: Frame}
 *   | {kind: 'stopped'}} ChatEvent
 */

/**
 * A group request: create a group, add or remove users, leave it, or list its members.
 * @typedef {'create' | 'add' | 'remove' | 'leave' | 'members'} GroupAction
 */

/** The frame type of each group request. @type {Record<GroupAction, string>} */
const GROUP_FRAMES = { create: 'group.create', add: 'group.add', remove: 'group.remove', leave: 'group.leave', members: 'group.members' };

/**
 * @typedef {object} ReconnectPolicyLike
 * @property {() => void} up  the connection is up
 * @property {() => number} nextDelay  the connection failed or was lost: ms before the next attempt
 */

/**
 * @typedef {object} ChatCoreOptions
 * @property {(handlers: SocketHandlers) => CoreSocket} open  opens one socket to the gateway
 * @property {(event: ChatEvent) => void} onEvent
 * @property {ReconnectPolicyLike} [policy]  default: from 0.5 s, ×1.6, ±20 %, at most 10 s
 * @property {() => string} newId  a fresh client id (1-64 printable characters)
 * @property {(fn: () => void, ms: number) => unknown} setTimer
 * @property {(handle: unknown) => void} clearTimer
 * @property {number} [historyLimit]  messages per conversation shown on the first catch-up (default 50)
 * @property {boolean} [catchUp]  ask `conversations` + `sync` after connecting (default true)
 * @property {boolean} [reconnect]  reopen after a loss (default true); false: a loss stops the core
 * @property {number} [resendDelayMs]  wait before resending a send refused with UNAVAILABLE (default 500)
 */

/**
 * @typedef {object} OutgoingSend
 * @property {string} id
 * @property {string} to
 * @property {string} body
 * @property {boolean} inFlight
 */

/**
 * The client's reconnect backoff. When a gateway dies all its clients retry at once; the jitter
 * (each retry anywhere within ±50 % of the backoff) spreads them so that fewer are refused by the
 * new gateway's handshake rate, without the long tail a wider spread draws (`npm run bench --
 * storm`, bench/NOTES.md).
 * @type {Readonly<import('../../shared/backoff.js').BackoffOptions>}
 */
export const CLIENT_RECONNECT = Object.freeze({ initialMs: 500, multiplier: 1.6, jitter: 0.5, maxMs: 10_000 });

export class ChatCore {
  /** @param {ChatCoreOptions} opts */
  constructor(opts) {
    this.opts = opts;
    this.historyLimit = opts.historyLimit ?? 50;
    /** @type {ReconnectPolicyLike} */
    this.policy = opts.policy ?? new ReconnectPolicy(CLIENT_RECONNECT, 10_000);
    /** @type {CoreSocket | undefined} */
    this.socket = undefined;
    this.open = false;
    this.stopped = false;
    this.attempt = 0;
    this.everConnected = false;
    /** @type {string | undefined} */
    this.user = undefined;
    /** Has the first catch-up finished? Until then a conversation starts at its history window. */
    this.initialCatchUpDone = false;
    /**
     * Per conversation: the seq shown history starts after, the last seq shown, messages held back
     * until the ones before them arrive, whether a sync is in flight.
     * @type {Map<string, {start: number, lastSeq: number, held: Map<number, ChatMessage>, syncing: boolean, gapRetries: number}>}
     */
    this.conversations = new Map();
    /** msgIds already shown: own sends are shown at `accepted`, before their seq is known. */
    this.shown = new Set();
    /** Sends not yet accepted, by conversation peer, in the order they were made. @type {Map<string, OutgoingSend[]>} */
    this.outbox = new Map();
    this.requests = 0;
    /** @type {Set<unknown>} */
    this.timers = new Set();
    /** Catch-up requests in flight; `caught-up` is reported when it returns to 0. */
    this.catchUpPending = 0;
    /** Conversations kept caught up even when `conversations` does not list them (see follow). @type {Set<string>} */
    this.followed = new Set();
    /** Group requests awaiting their answer, by request id. @type {Map<string, GroupAction>} */
    this.groupRequests = new Map();
  }

  /** Opens the connection (and keeps reopening it until stop()). */
  start() {
    this.connect();
  }

  /** Closes the connection for good (1000) and cancels every timer. */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) this.opts.clearTimer(t);
    this.timers.clear();
    this.socket?.close(1000, 'bye');
    this.emit({ kind: 'stopped' });
  }

  /**
   * Keeps a conversation caught up even when `conversations` does not list it: a group this user
   * was removed from still reads up to the removal, and one just joined by its id reads at once.
   * @param {string} conversation
   */
  follow(conversation) {
    this.followed.add(conversation);
    if (this.initialCatchUpDone && !this.conversations.has(conversation)) {
      this.state(conversation, 0);
      this.fillGap(conversation);
    }
  }

  /** Sends that are not accepted yet. */
  get pendingSends() {
    let n = 0;
    for (const q of this.outbox.values()) n += q.length;
    return n;
  }

  /**
   * Queues a message to `to`; it goes out now if the connection is up, else after the reconnect.
   * @param {string} to  a user id, or a group's conversation id (grp:…)
   * @param {string} body
   * @param {string} [id] the client id (default: a fresh one); a repeat yields the same msgId
   * @returns {string} the client id
   */
  send(to, body, id = this.opts.newId()) {
    const queue = this.outbox.get(to) ?? [];
    this.outbox.set(to, queue);
    queue.push({ id, to, body, inFlight: false });
    this.pump(to);
    return id;
  }

  /**
   * Asks for a group change or a group's members. The answer is a `group` event (created: with the
   * new group's conversation, which this core then follows; members: with the list), a refusal an
   * `error` event. Not retried: a change is the person's decision to make again.
   * @param {GroupAction} action
   * @param {{conversation?: string, members?: string[]}} [args]  the group (all but create), the users (create, add, remove)
   * @returns {boolean} false when not connected (nothing was sent)
   */
  group(action, args = {}) {
    const type = GROUP_FRAMES[action];
    const id = `${type}-${this.opts.newId()}`;
    /** @type {Frame} */
    const frame = { type, id };
    if (action !== 'create' && args.conversation !== undefined) frame.conversation = args.conversation;
    if (action !== 'leave' && action !== 'members') frame.members = args.members ?? [];
    if (!this.sendFrame(frame)) return false;
    this.groupRequests.set(id, action);
    return true;
  }

  /** Sends a raw frame if the connection is open. @param {Frame} frame */
  sendFrame(frame) {
    if (!this.open || !this.socket) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  // --- connection -------------------------------------------------------------------------

  /** @private */
  connect() {
    if (this.stopped) return;
    this.attempt++;
    this.emit({ kind: 'connecting', attempt: this.attempt });
    /** @type {CoreSocket | undefined} */
    let socket;
    let closed = false;
    socket = this.opts.open({
      onOpen: () => {
        if (this.socket !== socket) return;
        this.open = true;
      },
      onMessage: (text) => {
        if (this.socket !== socket) return;
        this.onFrame(text);
      },
      onClose: (code, reason, refusal) => {
        if (closed || this.socket !== socket) return;
        closed = true;
        this.open = false;
        this.socket = undefined;
        for (const q of this.outbox.values()) for (const s of q) s.inFlight = false;
        for (const c of this.conversations.values()) c.syncing = false;
        this.catchUpPending = 0;
        if (this.stopped) return;
        if (refusal && refusal.status !== 503 && refusal.status !== 429) {
          // 401/403/404: retrying the same credentials cannot succeed.
          this.emit({ kind: 'refused', status: refusal.status, message: refusal.message });
          this.stop();
          return;
        }
        // 4403: the application disconnected this user for good (docs/PROTOCOL.md §4); it decides
        // what comes next, not a retry of the same credentials.
        if (this.opts.reconnect === false || code === DISCONNECTED_FINAL) {
          this.emit({ kind: 'disconnected', code, reason, retryInMs: -1 });
          this.stop();
          return;
        }
        const delay = this.policy.nextDelay();
        this.emit({ kind: 'disconnected', code, reason: refusal ? refusal.message : reason, retryInMs: delay });
        this.later(() => this.connect(), delay);
      },
    });
    this.socket = socket;
  }

  /** @private @param {string} text */
  onFrame(text) {
    /** @type {Frame} */
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      this.emit({ kind: 'error', code: 'BAD_FRAME', message: 'the gateway sent a frame that is not JSON' });
      return;
    }
    this.emit({ kind: 'frame', frame });
    switch (frame.type) {
      case 'welcome':
        this.open = true;
        this.policy.up();
        this.user = String(frame.user);
        this.emit({
          kind: 'connected',
          user: this.user,
          connection: String(frame.connection),
          instance: String(frame.instance),
          reconnect: this.everConnected,
        });
        this.everConnected = true;
        for (const to of this.outbox.keys()) this.pump(to);
        if (this.opts.catchUp !== false) this.catchUp();
        break;
      case 'accepted':
        if (!this.onGroupAnswer(frame)) this.onAccepted(frame);
        break;
      case 'members':
        this.onGroupAnswer(frame);
        break;
      case 'message':
        this.receive(/** @type {ChatMessage} */ (/** @type {unknown} */ (frame)), true);
        break;
      case 'messages':
        this.onMessages(frame);
        break;
      case 'conversations':
        this.onConversations(frame);
        break;
      case 'resync':
        if (this.opts.catchUp !== false) this.catchUp();
        break;
      case 'error':
        this.onError(frame);
        break;
      default:
        break;
    }
  }

  // --- sending ----------------------------------------------------------------------------

  /** Sends the head of a peer's queue if nothing of it is in flight. @private @param {string} to */
  pump(to) {
    const head = this.outbox.get(to)?.[0];
    if (!head || head.inFlight || !this.open) return;
    // A peer is a user id, or a group's conversation id (grp:…).
    const target = head.to.startsWith('grp:') ? { conversation: head.to } : { to: head.to };
    head.inFlight = this.sendFrame({ type: 'send', id: head.id, ...target, body: head.body });
  }

  /** @private @param {string | undefined} id @returns {OutgoingSend | undefined} */
  findSend(id) {
    for (const q of this.outbox.values()) {
      const s = q.find((x) => x.id === id);
      if (s) return s;
    }
    return undefined;
  }

  /** @private @param {OutgoingSend} s */
  dropSend(s) {
    const q = this.outbox.get(s.to) ?? [];
    const i = q.indexOf(s);
    if (i >= 0) q.splice(i, 1);
    if (q.length === 0) this.outbox.delete(s.to);
    else this.pump(s.to);
  }

  /** @private @param {Frame} frame */
  onAccepted(frame) {
    const s = this.findSend(frame.id);
    if (!s) return;
    this.shown.add(String(frame.msgId));
    this.dropSend(s);
    this.emit({ kind: 'accepted', id: s.id, msgId: String(frame.msgId), conversation: String(frame.conversation), to: s.to, body: s.body });
  }

  /**
   * The answer to a group request, if it is one: reported as a `group` event.
   * @private @param {Frame} frame @returns {boolean}
   */
  onGroupAnswer(frame) {
    const action = frame.id === undefined ? undefined : this.groupRequests.get(String(frame.id));
    if (action === undefined) return false;
    this.groupRequests.delete(String(frame.id));
    const conversation = String(frame.conversation);
    if (action === 'create') this.follow(conversation);
    if (frame.type === 'members') this.emit({ kind: 'group', action, conversation, members: frame.members ?? [] });
    else this.emit({ kind: 'group', action, conversation });
    return true;
  }

  /** @private @param {Frame} frame */
  onError(frame) {
    if (frame.id !== undefined) this.groupRequests.delete(String(frame.id));
    const code = String(frame.code);
    const message = String(frame.message);
    const s = this.findSend(frame.id);
    if (s) {
      if (FINAL_SEND_ERRORS.has(code)) {
        this.dropSend(s);
        this.emit({ kind: 'send-failed', id: s.id, to: s.to, body: s.body, code, message });
      } else {
        // UNAVAILABLE, RATE_LIMITED: the same id again after a pause (idempotent on the server).
        s.inFlight = false;
        this.emit({ kind: 'send-retry', id: s.id, to: s.to, code });
        this.later(() => this.pump(s.to), this.opts.resendDelayMs ?? 500);
      }
      return;
    }
    if (frame.id && frame.id.startsWith('sync:')) {
      const conversation = frame.id.slice(5, frame.id.lastIndexOf(':'));
      const c = this.conversations.get(conversation);
      if (c) {
        c.syncing = false;
        // Not a member (FORBIDDEN) or a bad id is final; anything else is asked again.
        if (!FINAL_SEND_ERRORS.has(code)) this.later(() => this.fillGap(conversation), this.opts.resendDelayMs ?? 500);
      }
      this.catchUpDone();
    } else if (frame.id && frame.id.startsWith('conversations:')) {
      this.catchUpPending = Math.max(0, this.catchUpPending - 1);
      this.later(() => this.catchUp(), this.opts.resendDelayMs ?? 500);
    }
    this.emit({ kind: 'error', code, message });
  }

  // --- receiving, in seq order ------------------------------------------------------------

  /** @private @param {string} conversation @param {number} seqHint */
  state(conversation, seqHint) {
    let c = this.conversations.get(conversation);
    if (!c) {
      // First sight of a conversation: before the first catch-up finished, only its recent
      // history is wanted; afterwards everything in it is new to this client.
      const start = this.initialCatchUpDone ? 0 : Math.max(0, seqHint - this.historyLimit);
      c = { start, lastSeq: start, held: new Map(), syncing: false, gapRetries: 0 };
      this.conversations.set(conversation, c);
    }
    return c;
  }

  /**
   * The server has less than was shown, or numbers a new message with a seq already shown: its history was lost
   * (embedded backends restarted). Start the conversation over rather than drop its new messages
   * as repeats.
   * @private @param {string} conversation
   */
  resetConversation(conversation) {
    const c = this.conversations.get(conversation);
    if (!c) return;
    c.start = 0;
    c.lastSeq = 0;
    c.held.clear();
    c.gapRetries = 0;
    this.emit({ kind: 'history-reset', conversation });
  }

  /** @private @param {ChatMessage} m @param {boolean} live */
  receive(m, live) {
    if (this.opts.catchUp === false) {
      // No history wanted: pushes as they come, deduplicated.
      if (this.shown.has(m.msgId)) return;
      this.remember(m.msgId);
      this.emit({ kind: 'message', message: m, live });
      return;
    }
    const c = this.state(m.conversation, m.seq - 1);
    // Every message in (start, lastSeq] was shown, so an unknown one there means renumbering.
    if (m.seq > c.start && m.seq <= c.lastSeq && !this.shown.has(m.msgId)) this.resetConversation(m.conversation);
    if (m.seq <= c.lastSeq || c.held.has(m.seq)) return;
    c.held.set(m.seq, m);
    this.release(m.conversation, live);
  }

  /** Shows held messages that continue the sequence; asks for the rest. @private */
  release(/** @type {string} */ conversation, /** @type {boolean} */ live) {
    const c = this.conversations.get(conversation);
    if (!c) return;
    for (let next = c.held.get(c.lastSeq + 1); next; next = c.held.get(c.lastSeq + 1)) {
      c.held.delete(next.seq);
      c.lastSeq = next.seq;
      c.gapRetries = 0;
      if (this.shown.has(next.msgId)) continue;
      this.remember(next.msgId);
      this.emit({ kind: 'message', message: next, live });
    }
    if (c.held.size > 0) this.fillGap(conversation);
  }

  /** @private @param {string} msgId */
  remember(msgId) {
    this.shown.add(msgId);
    if (this.shown.size > 10_000) {
      const oldest = this.shown.values().next().value;
      if (oldest !== undefined) this.shown.delete(oldest);
    }
  }

  /** @private @param {string} conversation */
  fillGap(conversation) {
    const c = this.conversations.get(conversation);
    if (!c || c.syncing || !this.open) return;
    c.syncing = true;
    this.catchUpPending++;
    this.sendFrame({ type: 'sync', id: `sync:${conversation}:${++this.requests}`, conversation, after: c.lastSeq, limit: 100 });
  }

  /** @private */
  catchUp() {
    if (!this.open) return;
    this.catchUpPending++;
    this.sendFrame({ type: 'conversations', id: `conversations:${++this.requests}` });
  }

  /** @private @param {Frame} frame */
  onConversations(frame) {
    const listed = new Set();
    for (const item of frame.items ?? []) {
      listed.add(item.conversation);
      const c = this.state(item.conversation, item.lastSeq);
      if (item.lastSeq < c.lastSeq) this.resetConversation(item.conversation);
      if (item.lastSeq > c.lastSeq) this.fillGap(item.conversation);
    }
    for (const f of this.followed) {
      if (listed.has(f)) continue;
      this.state(f, 0);
      this.fillGap(f);
    }
    this.catchUpDone();
  }

  /** @private @param {Frame} frame */
  onMessages(frame) {
    const conversation = String(frame.conversation);
    const c = this.state(conversation, 0);
    c.syncing = false;
    for (const m of frame.messages ?? []) {
      if (m.seq > c.lastSeq && !c.held.has(m.seq)) c.held.set(m.seq, m);
    }
    const before = c.lastSeq;
    this.release(conversation, false);
    if (frame.hasMore) this.fillGap(conversation);
    else if (c.held.size > 0 && c.lastSeq === before && !c.syncing) {
      // The log says there is nothing before what is held: a gap that sync cannot explain
      // (a race with a store in progress). Ask again a few times, then show what is held.
      if (++c.gapRetries > GAP_RETRIES) {
        const first = Math.min(...c.held.keys());
        c.lastSeq = first - 1;
        this.release(conversation, false);
      } else this.later(() => this.fillGap(conversation), 200);
    }
    this.catchUpDone();
  }

  /** @private */
  catchUpDone() {
    this.catchUpPending = Math.max(0, this.catchUpPending - 1);
    if (this.catchUpPending > 0) return;
    this.initialCatchUpDone = true;
    this.emit({ kind: 'caught-up' });
  }

  // --- plumbing ---------------------------------------------------------------------------

  /** @private @param {() => void} fn @param {number} ms */
  later(fn, ms) {
    if (this.stopped) return;
    const t = this.opts.setTimer(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  /** @private @param {ChatEvent} event */
  emit(event) {
    this.opts.onEvent(event);
  }
}
