import { ReconnectPolicy, type BackoffOptions } from '../../shared/backoff.js';
import { DISCONNECTED_FINAL, GROUP_PREFIX, directConversation, type ChatEvent, type ChatMessage, type Frame, type GroupAction } from './protocol.js';

/**
 * The client's protocol logic (docs/PROTOCOL.md §2–§5), shared by the terminal client and the
 * browser page. It owns no socket and no timer of its own: its host injects how to open a socket,
 * the clock, the timers and the reconnect policy (`connect()` in ./connect.ts wires the standard
 * ones).
 *
 * What it guarantees to its host:
 *  - messages are reported once each, in seq order per conversation: a push that skips seqs is
 *    held back until a `sync` fills the gap, and anything at or below the last reported seq is dropped;
 *  - after every (re)connect and every `resync`, it catches up with `conversations` + `sync`;
 *    the first time only the last `historyLimit` messages of each conversation;
 *  - sends carry a client id and stay queued until `accepted`: on UNAVAILABLE or a lost
 *    connection they are sent again with the same id (the server answers a repeat with the same
 *    msgId and stores nothing twice), one at a time per conversation so their order survives;
 *  - the socket is reopened with the injected backoff after any loss, until `stop()`, a refused
 *    upgrade (401, 403, 404) or a close 4403 from the application;
 *  - each conversation's unread count follows the server's read marker (`conversations`, the
 *    `read` frames of this user's other connections) and the messages reported since: one's own
 *    messages are read, anyone else's after the marker are unread (`unread` events);
 *  - an own send, reported at `accepted` before it has a seq, is reported `sequenced` once this
 *    client learns its seq, always before any message that changes it; an edit or a deletion of
 *    such a send (named by its msgId) waits for that seq, asking the server for it.
 */

/** A socket as the client needs it; the host adapts `ws` or the browser's WebSocket. */
export interface ClientSocket {
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

/** Callbacks the host's socket factory calls. */
export interface SocketHandlers {
  onOpen(): void;
  onMessage(text: string): void;
  /** `refusal`: the upgrade was answered with an HTTP status (when the host can tell). */
  onClose(code: number, reason: string, refusal?: { status: number; message: string }): void;
}

/** When to reconnect: told when the connection is up, asked for the delay after each loss. */
export interface ReconnectPolicyLike {
  /** The connection is up. */
  up(): void;
  /** The connection failed or was lost: ms before the next attempt. */
  nextDelay(): number;
}

export interface ChatClientOptions {
  /** Opens one socket to the gateway. */
  open(handlers: SocketHandlers): ClientSocket;
  onEvent(event: ChatEvent): void;
  /** Default: CLIENT_RECONNECT (from 0.5 s, ×1.6, ±50 %, at most 10 s). */
  policy?: ReconnectPolicyLike;
  /** A fresh client id (1-64 printable characters). */
  newId(): string;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** Messages per conversation reported on the first catch-up (default 50). */
  historyLimit?: number;
  /** Ask `conversations` + `sync` after connecting (default true). */
  catchUp?: boolean;
  /** Reopen after a loss (default true); false: a loss stops the client. */
  reconnect?: boolean;
  /** Wait before resending a send refused with UNAVAILABLE (default 500 ms). */
  resendDelayMs?: number;
  /** `typing()` sends at most one `typing` frame per conversation this often (default 2000 ms). */
  typingIntervalMs?: number;
  /** The clock, ms (default Date.now). */
  now?: () => number;
}

interface OutgoingSend {
  id: string;
  to: string;
  body: string;
  inFlight: boolean;
}

interface ConversationState {
  /** The seq reported history starts after. */
  start: number;
  /** The last seq reported. */
  lastSeq: number;
  /** Messages held back until the ones before them arrive. */
  held: Map<number, ChatMessage>;
  syncing: boolean;
  gapRetries: number;
}

/** An edit or a deletion waiting for the seq of the own send it changes. */
interface WaitingChange {
  /** The change's request id. */
  id: string;
  conversation: string;
  msgId: string;
  /** Sends the change once the seq is known. */
  go(seq: number): void;
  /** Syncs asked for it so far. */
  tries: number;
}

/** How many times a change asks for the seq of its send (every SEQ_RETRY_MS) before it is refused. */
const SEQ_TRIES = 20;
const SEQ_RETRY_MS = 250;

/** Codes after which a send is final (retrying the same frame cannot succeed). */
const FINAL_SEND_ERRORS = new Set(['BAD_REQUEST', 'TOO_LARGE', 'FORBIDDEN', 'INTERNAL']);
/** How long a gap may stay unexplained by `sync` before the held messages are reported anyway. */
const GAP_RETRIES = 3;
/** The frame type of each group request. */
const GROUP_FRAMES: Record<GroupAction, string> = {
  create: 'group.create',
  add: 'group.add',
  remove: 'group.remove',
  leave: 'group.leave',
  title: 'group.title',
  members: 'group.members',
};

/**
 * The client's reconnect backoff. When a gateway dies all its clients retry at once; the jitter
 * (each retry anywhere within ±50 % of the backoff) spreads them so that fewer are refused by the
 * new gateway's handshake rate, without the long tail a wider spread draws (`npm run bench --
 * storm`, bench/NOTES.md).
 */
export const CLIENT_RECONNECT: Readonly<BackoffOptions> = Object.freeze({ initialMs: 500, multiplier: 1.6, jitter: 0.5, maxMs: 10_000 });

/** A chat connection to a gateway, kept open, caught up and in order (see the module's guarantees). */
export class ChatClient {
  /** The user the gateway authenticated (after `connected`). */
  user: string | undefined;
  private readonly historyLimit: number;
  private readonly policy: ReconnectPolicyLike;
  private socket: ClientSocket | undefined;
  private open = false;
  private stopped = false;
  private attempt = 0;
  private everConnected = false;
  /** Has the first catch-up finished? Until then a conversation starts at its history window. */
  private initialCatchUpDone = false;
  private readonly conversations = new Map<string, ConversationState>();
  /** msgIds already reported: own sends are reported at `accepted`, before their seq is known. */
  private readonly shown = new Set<string>();
  /** Sends not yet accepted, by conversation peer, in the order they were made. */
  private readonly outbox = new Map<string, OutgoingSend[]>();
  private requests = 0;
  private readonly timers = new Set<unknown>();
  /** Catch-up requests in flight; `caught-up` is reported when it returns to 0. */
  private catchUpPending = 0;
  /** Conversations kept caught up even when `conversations` does not list them (see follow). */
  private readonly followed = new Set<string>();
  /** Group requests awaiting their answer, by request id. */
  private readonly groupRequests = new Map<string, GroupAction>();
  /** When this client last sent `typing` per conversation (the injected clock). */
  private readonly typingSent = new Map<string, number>();
  /** Others typing: the timer that ends each indicator, by conversation and user. */
  private readonly typists = new Map<string, unknown>();
  /** The users whose online state this client follows (asked again after every reconnect). */
  private followedPresence: string[] = [];
  /** Per conversation: this user's read marker and the newest seq known. */
  private readonly markers = new Map<string, { readSeq: number; lastSeq: number }>();
  /** Own sends reported at `accepted` whose seq is not known yet (msgId → conversation). */
  private readonly unsequenced = new Map<string, string>();
  /** The seqs of own sends learned since (msgId → seq), for changes that name them by msgId. */
  private readonly ownSeqs = new Map<string, number>();
  /** Edits and deletions waiting for the seq of the send they change. */
  private readonly waitingChanges: WaitingChange[] = [];
  /** Edits and deletions awaiting their answer, by request id. */
  private readonly changeRequests = new Map<string, { conversation: string; ref: number | string }>();
  /** Groups' titles as last reported. */
  private readonly titles = new Map<string, string>();

  constructor(private readonly opts: ChatClientOptions) {
    this.historyLimit = opts.historyLimit ?? 50;
    this.policy = opts.policy ?? new ReconnectPolicy(CLIENT_RECONNECT, 10_000);
  }

  /** Opens the connection (and keeps reopening it until stop()). */
  start(): void {
    this.connect();
  }

  /** Closes the connection for good (1000) and cancels every timer. */
  stop(): void {
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
   */
  follow(conversation: string): void {
    this.followed.add(conversation);
    if (this.initialCatchUpDone && !this.conversations.has(conversation)) {
      this.state(conversation, 0);
      this.fillGap(conversation);
    }
  }

  /** Messages of `conversation` after this user's read marker (as far as this client knows). */
  unread(conversation: string): number {
    const m = this.markers.get(conversation);
    return m ? Math.max(0, m.lastSeq - m.readSeq) : 0;
  }

  /**
   * Marks `conversation` read up to `seq` (default: the newest message known): the server keeps
   * the highest marker, tells this user's other connections and, in a direct conversation, the peer.
   * @returns false when there is nothing new to mark or the connection is not open (nothing was sent)
   */
  markRead(conversation: string, seq: number = this.markers.get(conversation)?.lastSeq ?? 0): boolean {
    const m = this.markers.get(conversation);
    if (seq < 1 || (m !== undefined && seq <= m.readSeq)) return false;
    if (!this.sendFrame({ type: 'read', id: `read:${++this.requests}`, conversation, seq })) return false;
    this.moveMarker(conversation, { readSeq: seq });
    return true;
  }

  /**
   * Tells the others in a conversation that this user is typing; call it on every keystroke: a
   * frame goes out at most once per `typingIntervalMs` per conversation (the indicator lasts
   * longer at the other side), and again at once after this user's send.
   * @param to a user id, or a group's conversation id (grp:…)
   * @returns true when a frame was sent
   */
  typing(to: string): boolean {
    const now = (this.opts.now ?? Date.now)();
    const conversation = this.conversationWith(to);
    if (conversation === undefined) return false;
    const last = this.typingSent.get(conversation);
    if (last !== undefined && now - last < (this.opts.typingIntervalMs ?? 2000)) return false;
    if (!this.sendFrame({ type: 'typing', conversation })) return false;
    this.typingSent.set(conversation, now);
    return true;
  }

  /**
   * Follows the online state of `users` (people this user shares a conversation with; at most
   * 100), replacing those followed before (none: follow no one): `presence` events report each
   * one's state, then every change (going offline only once they stayed away a few seconds). Kept
   * across reconnects.
   */
  followPresence(users: readonly string[]): void {
    this.followedPresence = [...new Set(users)];
    this.askPresence();
  }

  private askPresence(): void {
    if (this.followedPresence.length > 0 || this.everConnected)
      this.sendFrame({ type: 'presence', id: `presence:${++this.requests}`, users: this.followedPresence });
  }

  /** The conversation of a peer (a user, or a group's own id); undefined before the user is known. */
  private conversationWith(to: string): string | undefined {
    if (to.startsWith(GROUP_PREFIX)) return to;
    return this.user === undefined ? undefined : directConversation(this.user, to);
  }

  /** Sends that are not accepted yet. */
  get pendingSends(): number {
    let n = 0;
    for (const q of this.outbox.values()) n += q.length;
    return n;
  }

  /**
   * Queues a message to `to`; it goes out now if the connection is up, else after the reconnect.
   * @param to a user id, or a group's conversation id (grp:…)
   * @param id the client id (default: a fresh one); a repeat yields the same msgId
   * @returns the client id
   */
  send(to: string, body: string, id: string = this.opts.newId()): string {
    // The others see the message end the indicator; typing after it is news again.
    const conversation = this.conversationWith(to);
    if (conversation !== undefined) this.typingSent.delete(conversation);
    const queue = this.outbox.get(to) ?? [];
    this.outbox.set(to, queue);
    queue.push({ id, to, body, inFlight: false });
    this.pump(to);
    return id;
  }

  /**
   * Asks for a group change or a group's members. The answer is a `group` event (created: with the
   * new group's conversation, which this client then follows; members: with the list), a refusal an
   * `error` event. Not retried: a change is the person's decision to make again.
   * @param args the group (all but create), the users (create, add, remove), the title (title; create may give one)
   * @returns false when not connected (nothing was sent)
   */
  group(action: GroupAction, args: { conversation?: string; members?: string[]; title?: string } = {}): boolean {
    const type = GROUP_FRAMES[action];
    const id = `${type}-${this.opts.newId()}`;
    const frame: Frame = { type, id };
    if (action !== 'create' && args.conversation !== undefined) frame.conversation = args.conversation;
    if (action === 'create' || action === 'add' || action === 'remove') frame.members = args.members ?? [];
    if ((action === 'create' || action === 'title') && args.title !== undefined) frame.title = args.title;
    if (!this.sendFrame(frame)) return false;
    this.groupRequests.set(id, action);
    return true;
  }

  /**
   * Replaces the text of this user's message `ref` of `conversation`: a seq, or the msgId of a
   * send of this client not yet sequenced (the change then waits for its seq). The change is a
   * message of the conversation (kind `edited`, `ref` its seq) reported like any other, to this
   * client too; the answer is a `change` event. Not retried, like a group change.
   * @returns the request id, or undefined when not connected (nothing was sent)
   */
  edit(conversation: string, ref: number | string, body: string): string | undefined {
    return this.change('edit', conversation, ref, body);
  }

  /** Deletes this user's message `ref` of `conversation` (a seq or a msgId, as for `edit`); its message has kind `deleted`. */
  deleteMessage(conversation: string, ref: number | string): string | undefined {
    return this.change('delete', conversation, ref);
  }

  /** A group's title as this client last learned it (undefined: none known). */
  titleOf(conversation: string): string | undefined {
    return this.titles.get(conversation) || undefined;
  }

  /** The seq of a message this client sent (by msgId), once known. */
  seqOf(msgId: string): number | undefined {
    return this.ownSeqs.get(msgId);
  }

  private change(type: 'edit' | 'delete', conversation: string, ref: number | string, body?: string): string | undefined {
    if (!this.open) return undefined;
    const id = `${type}-${this.opts.newId()}`;
    this.changeRequests.set(id, { conversation, ref });
    const go = (seq: number) => {
      const frame: Frame = { type, id, conversation, seq };
      if (body !== undefined) frame.body = body;
      if (!this.sendFrame(frame)) this.changeAnswered(id, { code: 'UNAVAILABLE', message: 'the connection was lost before the change went out' });
    };
    const seq = typeof ref === 'number' ? ref : this.ownSeqs.get(ref);
    if (seq !== undefined) go(seq);
    else {
      this.waitingChanges.push({ id, conversation, msgId: String(ref), go, tries: 0 });
      this.askSeq(conversation);
    }
    return id;
  }

  /** Asks for what follows the conversation's last seq, where a waiting change's send is. */
  private askSeq(conversation: string): void {
    const c = this.state(conversation, 0);
    if (c.syncing) return;
    this.fillGap(conversation);
  }

  /** Sends the changes of a conversation whose send now has a seq. */
  private releaseChanges(conversation: string): void {
    for (const w of [...this.waitingChanges]) {
      if (w.conversation !== conversation) continue;
      const seq = this.ownSeqs.get(w.msgId);
      if (seq !== undefined) {
        this.waitingChanges.splice(this.waitingChanges.indexOf(w), 1);
        w.go(seq);
      }
    }
  }

  /** After a sync of the conversation: asks again for the seqs still missing, or refuses the changes that asked long enough. */
  private retryWaitingChanges(conversation: string): void {
    const waiting = this.waitingChanges.filter((w) => w.conversation === conversation);
    if (waiting.length === 0) return;
    for (const w of waiting) {
      if (++w.tries <= SEQ_TRIES) continue;
      this.waitingChanges.splice(this.waitingChanges.indexOf(w), 1);
      this.changeAnswered(w.id, { code: 'BAD_REQUEST', message: `message ${w.msgId} has no seq in ${conversation}` });
    }
    if (this.waitingChanges.some((w) => w.conversation === conversation)) this.later(() => this.askSeq(conversation), SEQ_RETRY_MS);
  }

  /** Reports a change's answer: accepted, or refused with a code. */
  private changeAnswered(id: string, refusal?: { code: string; message: string }): boolean {
    const r = this.changeRequests.get(id);
    if (!r) return false;
    this.changeRequests.delete(id);
    this.emit(refusal ? { kind: 'change', id, ...r, accepted: false, ...refusal } : { kind: 'change', id, ...r, accepted: true });
    return true;
  }

  /** Sends a raw frame if the connection is open. */
  sendFrame(frame: Frame): boolean {
    if (!this.open || !this.socket) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  // --- connection -------------------------------------------------------------------------

  private connect(): void {
    if (this.stopped) return;
    this.attempt++;
    this.emit({ kind: 'connecting', attempt: this.attempt });
    let closed = false;
    const socket: ClientSocket = this.opts.open({
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

  private onFrame(text: string): void {
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
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
        if (this.followedPresence.length > 0) this.askPresence();
        if (this.opts.catchUp !== false) this.catchUp();
        break;
      case 'accepted':
        if (!this.onGroupAnswer(frame) && !this.changeAnswered(String(frame.id))) this.onAccepted(frame);
        break;
      case 'members':
        this.onGroupAnswer(frame);
        break;
      case 'message':
        this.receive(frame as unknown as ChatMessage, true);
        break;
      case 'messages':
        this.onMessages(frame);
        break;
      case 'conversations':
        this.onConversations(frame);
        break;
      case 'presence':
        if (Array.isArray(frame.users)) for (const u of frame.users) if (typeof u === 'object') this.emit({ kind: 'presence', user: u.user, online: u.online });
        if (typeof frame.user === 'string' && typeof frame.online === 'boolean') this.emit({ kind: 'presence', user: frame.user, online: frame.online });
        break;
      case 'typing':
        this.onTyping(String(frame.conversation), String(frame.user), Number(frame.ttlMs));
        break;
      case 'read':
        // The answer to this connection's `read`, another connection of this user, or a peer's receipt.
        if (frame.user === this.user || frame.id !== undefined) this.moveMarker(String(frame.conversation), { readSeq: Number(frame.seq) });
        else this.emit({ kind: 'receipt', conversation: String(frame.conversation), user: String(frame.user), seq: Number(frame.seq) });
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

  /** Sends the head of a peer's queue if nothing of it is in flight. */
  private pump(to: string): void {
    const head = this.outbox.get(to)?.[0];
    if (!head || head.inFlight || !this.open) return;
    // A peer is a user id, or a group's conversation id (grp:…).
    const target = head.to.startsWith(GROUP_PREFIX) ? { conversation: head.to } : { to: head.to };
    head.inFlight = this.sendFrame({ type: 'send', id: head.id, ...target, body: head.body });
  }

  private findSend(id: string | undefined): OutgoingSend | undefined {
    for (const q of this.outbox.values()) {
      const s = q.find((x) => x.id === id);
      if (s) return s;
    }
    return undefined;
  }

  private dropSend(s: OutgoingSend): void {
    const q = this.outbox.get(s.to) ?? [];
    const i = q.indexOf(s);
    if (i >= 0) q.splice(i, 1);
    if (q.length === 0) this.outbox.delete(s.to);
    else this.pump(s.to);
  }

  private onAccepted(frame: Frame): void {
    const s = this.findSend(frame.id);
    if (!s) return;
    this.shown.add(String(frame.msgId));
    this.unsequenced.set(String(frame.msgId), String(frame.conversation));
    if (this.unsequenced.size > 10_000) this.unsequenced.delete(this.unsequenced.keys().next().value!);
    this.dropSend(s);
    this.emit({ kind: 'accepted', id: s.id, msgId: String(frame.msgId), conversation: String(frame.conversation), to: s.to, body: s.body });
  }

  /** The answer to a group request, if it is one: reported as a `group` event. */
  private onGroupAnswer(frame: Frame): boolean {
    const action = frame.id === undefined ? undefined : this.groupRequests.get(frame.id);
    if (action === undefined) return false;
    this.groupRequests.delete(frame.id!);
    const conversation = String(frame.conversation);
    if (action === 'create') this.follow(conversation);
    if (frame.type === 'members') this.emit({ kind: 'group', action, conversation, members: frame.members ?? [] });
    else this.emit({ kind: 'group', action, conversation });
    return true;
  }

  private onError(frame: Frame): void {
    if (frame.id !== undefined) this.groupRequests.delete(frame.id);
    const code = String(frame.code);
    const message = String(frame.message);
    if (frame.id !== undefined && this.changeAnswered(frame.id, { code, message })) return;
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
    if (frame.id?.startsWith('sync:')) {
      const conversation = frame.id.slice(5, frame.id.lastIndexOf(':'));
      const c = this.conversations.get(conversation);
      if (c) {
        c.syncing = false;
        // Not a member (FORBIDDEN) or a bad id is final; anything else is asked again.
        if (!FINAL_SEND_ERRORS.has(code)) this.later(() => this.fillGap(conversation), this.opts.resendDelayMs ?? 500);
      }
      this.catchUpDone();
    } else if (frame.id?.startsWith('conversations:')) {
      this.catchUpPending = Math.max(0, this.catchUpPending - 1);
      this.later(() => this.catchUp(), this.opts.resendDelayMs ?? 500);
    }
    this.emit({ kind: 'error', code, message });
  }

  // --- receiving, in seq order ------------------------------------------------------------

  private state(conversation: string, seqHint: number): ConversationState {
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
   * The server has less than was reported, or numbers a new message with a seq already reported:
   * its history was lost (embedded backends restarted). Start the conversation over rather than
   * drop its new messages as repeats.
   */
  private resetConversation(conversation: string): void {
    const c = this.conversations.get(conversation);
    if (!c) return;
    c.start = 0;
    c.lastSeq = 0;
    c.held.clear();
    c.gapRetries = 0;
    this.emit({ kind: 'history-reset', conversation });
  }

  private receive(m: ChatMessage, live: boolean): void {
    if (this.opts.catchUp === false) {
      // No history wanted: pushes as they come, deduplicated.
      if (this.shown.has(m.msgId)) return;
      this.remember(m.msgId);
      this.reported(m, live);
      return;
    }
    const c = this.state(m.conversation, m.seq - 1);
    // Every message in (start, lastSeq] was reported, so an unknown one there means renumbering.
    if (m.seq > c.start && m.seq <= c.lastSeq && !this.shown.has(m.msgId)) this.resetConversation(m.conversation);
    if (m.seq <= c.lastSeq || c.held.has(m.seq)) return;
    c.held.set(m.seq, m);
    this.release(m.conversation, live);
  }

  /** Reports held messages that continue the sequence; asks for the rest. */
  private release(conversation: string, live: boolean): void {
    const c = this.conversations.get(conversation);
    if (!c) return;
    for (let next = c.held.get(c.lastSeq + 1); next; next = c.held.get(c.lastSeq + 1)) {
      c.held.delete(next.seq);
      c.lastSeq = next.seq;
      c.gapRetries = 0;
      if (this.shown.has(next.msgId)) {
        this.passed(next);
        this.sequenced(next);
        continue;
      }
      this.remember(next.msgId);
      this.reported(next, live);
    }
    if (c.held.size > 0) this.fillGap(conversation);
    this.releaseChanges(conversation);
  }

  /** An own send reported at `accepted` got its seq: reported, and kept for the changes that name it. */
  private sequenced(m: ChatMessage): void {
    if (this.unsequenced.get(m.msgId) !== m.conversation) return;
    this.unsequenced.delete(m.msgId);
    this.ownSeqs.set(m.msgId, m.seq);
    if (this.ownSeqs.size > 10_000) this.ownSeqs.delete(this.ownSeqs.keys().next().value!);
    this.emit({ kind: 'sequenced', conversation: m.conversation, msgId: m.msgId, seq: m.seq });
  }

  private remember(msgId: string): void {
    this.shown.add(msgId);
    if (this.shown.size > 10_000) {
      const oldest = this.shown.values().next().value;
      if (oldest !== undefined) this.shown.delete(oldest);
    }
  }

  private fillGap(conversation: string): void {
    const c = this.conversations.get(conversation);
    if (!c || c.syncing || !this.open) return;
    c.syncing = true;
    this.catchUpPending++;
    this.sendFrame({ type: 'sync', id: `sync:${conversation}:${++this.requests}`, conversation, after: c.lastSeq, limit: 100 });
  }

  private catchUp(): void {
    if (!this.open) return;
    this.catchUpPending++;
    this.sendFrame({ type: 'conversations', id: `conversations:${++this.requests}` });
  }

  private onConversations(frame: Frame): void {
    const listed = new Set<string>();
    for (const item of frame.items ?? []) {
      listed.add(item.conversation);
      if (item.title !== undefined) this.titled(item.conversation, item.title);
      this.moveMarker(item.conversation, { readSeq: item.readSeq ?? 0, lastSeq: item.lastSeq });
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

  private onMessages(frame: Frame): void {
    const conversation = String(frame.conversation);
    const c = this.state(conversation, 0);
    c.syncing = false;
    for (const m of frame.messages ?? []) {
      if (m.seq > c.lastSeq && !c.held.has(m.seq)) c.held.set(m.seq, m);
    }
    const before = c.lastSeq;
    this.release(conversation, false);
    this.retryWaitingChanges(conversation);
    // release() may have asked again (a sync in flight): read the state anew.
    const asked = this.conversations.get(conversation)?.syncing === true;
    if (frame.hasMore) this.fillGap(conversation);
    else if (c.held.size > 0 && c.lastSeq === before && !asked) {
      // The log says there is nothing before what is held: a gap that sync cannot explain
      // (a race with a store in progress). Ask again a few times, then report what is held.
      if (++c.gapRetries > GAP_RETRIES) {
        const first = Math.min(...c.held.keys());
        c.lastSeq = first - 1;
        this.release(conversation, false);
      } else this.later(() => this.fillGap(conversation), 200);
    }
    this.catchUpDone();
  }

  private catchUpDone(): void {
    this.catchUpPending = Math.max(0, this.catchUpPending - 1);
    if (this.catchUpPending > 0) return;
    this.initialCatchUpDone = true;
    this.emit({ kind: 'caught-up' });
  }

  // --- plumbing ---------------------------------------------------------------------------

  private later(fn: () => void, ms: number): void {
    if (this.stopped) return;
    const t = this.opts.setTimer(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  /** Moves a conversation's read marker and newest seq forward (never back); reports the unread count when either moved. */
  private moveMarker(conversation: string, to: { readSeq?: number; lastSeq?: number }): void {
    const m = this.markers.get(conversation) ?? { readSeq: 0, lastSeq: 0 };
    const readSeq = Math.max(m.readSeq, to.readSeq ?? 0);
    const lastSeq = Math.max(m.lastSeq, to.lastSeq ?? 0, readSeq);
    const known = this.markers.has(conversation);
    if (known && readSeq === m.readSeq && lastSeq === m.lastSeq) return;
    this.markers.set(conversation, { readSeq, lastSeq });
    this.emit({ kind: 'unread', conversation, readSeq, unread: lastSeq - readSeq });
  }

  /** A message reported to the application. */
  private reported(m: ChatMessage, live: boolean): void {
    // The marker first: an application that marks what it shows read marks up to this one.
    this.passed(m);
    this.emit({ kind: 'message', message: m, live });
    if (m.kind === 'created' || m.kind === 'titled') this.titled(m.conversation, m.body);
    // Their message ends their typing indicator.
    this.typingEnded(m.conversation, m.from);
  }

  /** Reports a group's title when it changed. */
  private titled(conversation: string, title: string): void {
    if ((this.titles.get(conversation) ?? '') === title) return;
    this.titles.set(conversation, title);
    this.emit({ kind: 'title', conversation, title });
  }

  /** Someone typing: reported active, and inactive once `ttlMs` passes without a renewal. */
  private onTyping(conversation: string, user: string, ttlMs: number): void {
    const key = `${conversation}\n${user}`;
    const had = this.typists.get(key);
    if (had !== undefined) {
      this.opts.clearTimer(had);
      this.timers.delete(had);
    } else this.emit({ kind: 'typing', conversation, user, active: true });
    const t = this.opts.setTimer(
      () => {
        this.timers.delete(t);
        this.typingEnded(conversation, user);
      },
      Number.isFinite(ttlMs) && ttlMs > 0 ? ttlMs : 6000,
    );
    this.timers.add(t);
    this.typists.set(key, t);
  }

  private typingEnded(conversation: string, user: string): void {
    const key = `${conversation}\n${user}`;
    const t = this.typists.get(key);
    if (t === undefined) return;
    this.opts.clearTimer(t);
    this.timers.delete(t);
    this.typists.delete(key);
    this.emit({ kind: 'typing', conversation, user, active: false });
  }

  /** A message in seq order (reported now or before): it is the newest known, and read when this user sent it. */
  private passed(m: ChatMessage): void {
    this.moveMarker(m.conversation, m.from === this.user ? { readSeq: m.seq, lastSeq: m.seq } : { lastSeq: m.seq });
  }

  private emit(event: ChatEvent): void {
    this.opts.onEvent(event);
  }
}
