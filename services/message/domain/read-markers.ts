import type { Logger } from '../../shared/logger.js';
import { BadRequestError } from '../../shared/errors.js';
import { directPeer, isConversationId, isUserId } from '../../shared/ids.js';
import type { Message, Origin, ReadMarker } from '../../shared/message.js';
import type { MessageStore } from '../adapters/store.js';
import type { History } from './history.js';
import { backend } from './send-acceptor.js';

export interface ReadMarkingOptions {
  /** The store as readers see it (the messages pushed and not stored yet included). */
  store: MessageStore;
  history: History;
  /** Whether a direct conversation's peer is pushed the reader's marker (READ_RECEIPTS). */
  receipts: boolean;
  /** Pushes a marker to the gateways holding `users`, but not to the connection it came from. */
  route(marker: ReadMarker, users: readonly string[], origin: Origin): void;
}

/**
 * Read markers: a user says they read a conversation up to a seq; the store keeps the highest
 * (never moving back), and the marker is pushed at once to the user's other connections and, in a
 * direct conversation, to the peer as a read receipt (unless receipts are off).
 */
export class ReadMarking {
  constructor(private readonly opts: ReadMarkingOptions) {}

  /** Marks `conversation` read by `user` up to `seq`; returns the marker after (a higher one read before stays). */
  async mark(user: string, conversation: string, seq: number, origin: Origin): Promise<number> {
    if (!isUserId(user)) throw new BadRequestError('user must be a user id');
    if (!isConversationId(conversation)) throw new BadRequestError('conversation must be a conversation id');
    if (!Number.isSafeInteger(seq) || seq < 1) throw new BadRequestError('seq must be an integer ≥ 1');
    const upTo = await this.opts.history.readableUpTo(user, conversation);
    const last = Math.min(upTo, await backend('store', () => this.opts.store.lastSeq(conversation)));
    if (seq > last) throw new BadRequestError(`seq ${seq} is beyond the last message of ${conversation} this user can read (${last})`);
    const after = await backend('store', () => this.opts.store.markRead(user, conversation, seq));
    const peer = this.opts.receipts ? directPeer(conversation, user) : undefined;
    this.opts.route({ conversation, user, seq: after }, peer === undefined || peer === user ? [user] : [user, peer], origin);
    return after;
  }
}

/** Most markers waiting for the store; beyond it the newest are dropped (and counted by the log line). */
const MAX_PENDING = 100_000;
/** Markers per store call. */
const WRITE_BATCH = 256;
/** Wait after a failed write before the next (the markers are kept). */
const RETRY_MS = 1000;
/** Least time between two writes: under load the markers coalesce meanwhile, and the store sees a few calls a second at most. */
const WRITE_GAP_MS = 250;

/**
 * Moves each sender's read marker up to their own stored messages (one's own messages are read),
 * behind the store writes of the messages: markers are coalesced per user and conversation and
 * written one call at a time, at most one every WRITE_GAP_MS, so the store never sees more than one
 * such call in flight, nor more than a few a second, however many messages are stored. Best effort: a marker that cannot be written makes an own message count
 * as unread until the user reads the conversation.
 */
export class SenderMarkers {
  private readonly pending = new Map<string, ReadMarker>();
  private writing = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private droppedSinceLog = 0;

  constructor(
    private readonly store: Pick<MessageStore, 'advanceMarkers'>,
    private readonly logger: Logger,
  ) {}

  /** Messages just stored: their senders' markers move up to them. */
  stored(messages: readonly Message[]): void {
    if (this.stopped) return;
    for (const m of messages) this.pend({ user: m.from, conversation: m.conversation, seq: m.seq });
    this.write();
  }

  /** Adds a marker to write, merged with one waiting for the same user and conversation (the higher seq wins). */
  private pend(marker: ReadMarker): void {
    const key = `${marker.user}\n${marker.conversation}`;
    const had = this.pending.get(key);
    if (had) had.seq = Math.max(had.seq, marker.seq);
    else if (this.pending.size < MAX_PENDING) this.pending.set(key, { ...marker });
    else this.droppedSinceLog++;
  }

  /** Resolves when nothing is pending or being written (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.writing || (this.pending.size > 0 && !this.stopped)) await new Promise((r) => setTimeout(r, 10));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private write(): void {
    if (this.writing || this.timer || this.pending.size === 0 || this.stopped) return;
    this.writing = true;
    const batch: ReadMarker[] = [];
    for (const [key, marker] of this.pending) {
      batch.push(marker);
      this.pending.delete(key);
      if (batch.length >= WRITE_BATCH) break;
    }
    if (this.droppedSinceLog > 0) {
      this.logger.warn({ dropped: this.droppedSinceLog, max: MAX_PENDING }, "senders' read markers dropped: too many waiting for the store");
      this.droppedSinceLog = 0;
    }
    this.store.advanceMarkers(batch).then(
      () => {
        this.writing = false;
        this.later(WRITE_GAP_MS);
      },
      (err: unknown) => {
        this.writing = false;
        // Put back (a newer seq that arrived meanwhile wins) and try again after a pause.
        for (const m of batch) this.pend(m);
        this.logger.warn({ err, markers: batch.length }, "writing senders' read markers failed; trying again");
        this.later(RETRY_MS);
      },
    );
  }

  /** The next write, after `ms` (the markers arriving meanwhile join it). */
  private later(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.write();
    }, ms);
    this.timer.unref();
  }
}

/** The store with every message stored by insertMessage(s) handed to `markers` (their senders read them). */
export function withSenderMarkers(store: MessageStore, markers: SenderMarkers): MessageStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'insertMessages') {
        return async (messages: readonly Message[], members: ReadonlyMap<string, readonly string[]>): Promise<number> => {
          const n = await target.insertMessages(messages, members);
          markers.stored(messages.slice(0, n));
          return n;
        };
      }
      if (prop === 'insertMessage') {
        return async (message: Message, members: readonly string[]): Promise<'inserted' | 'duplicate'> => {
          const r = await target.insertMessage(message, members);
          if (r === 'inserted') markers.stored([message]);
          return r;
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}
