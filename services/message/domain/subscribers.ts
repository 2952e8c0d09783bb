import type { Logger } from '../../shared/logger.js';
import type { PresenceStore } from '../adapters/presence.js';
import { PresenceDirectory, type RewriteReason } from './presence-directory.js';
import type { Message, Origin, PresenceChange, Push, ReadMarker, ReadPush, SessionsClose, Typing, TypingPush } from '../../shared/message.js';
export type { SessionsClose } from '../../shared/message.js';

/** Why a gateway's stream ended (a metric label: switchboard_message_streams_ended_total). */
export type StreamEndReason = 'gateway_closed' | 'push_buffer_full' | 'replaced' | 'shutdown' | 'refused' | 'error';
export const STREAM_END_REASONS: readonly StreamEndReason[] = ['gateway_closed', 'push_buffer_full', 'replaced', 'shutdown', 'refused', 'error'];

/** The Message side of one Connect instance's subscription stream. */
export interface SubscriberLink {
  /** Queues a push on the stream; false when the stream can no longer take it. */
  push(push: Push): boolean;
  /** Queues a read marker on the stream; false when the stream can no longer take it. */
  pushRead(push: ReadPush): boolean;
  /** Queues a typing indicator on the stream; false when the stream can no longer take it. */
  pushTyping(push: TypingPush): boolean;
  /** Queues a change of a followed user's online state on the stream. */
  pushPresence(change: PresenceChange): boolean;
  /** Ends the stream with UNAVAILABLE and `details` (Connect then moves to other pods). */
  end(reason: 'replaced' | 'shutdown', details: string): void;
  /**
   * Asks the gateway how many connections each of `users` holds on it, in their order, closing
   * them with `close`; undefined when it cannot answer (it does not take such queries, the stream
   * ended, or no answer came within `timeoutMs`).
   */
  sessions(users: readonly string[], close: SessionsClose | undefined, timeoutMs: number): Promise<number[] | undefined>;
}

/** What became of one push to one gateway. */
export type PushResult = 'sent' | 'dropped' | 'skipped';
export const PUSH_RESULTS: readonly PushResult[] = ['sent', 'dropped', 'skipped'];

interface Subscriber {
  link: SubscriberLink;
  users: Set<string>;
  /** Users whose online state the gateway follows (Watch). */
  watched: Set<string>;
}

/** A gateway whose stream ended: its users, until it subscribes again or its presence would have expired. */
interface Gone {
  users: Set<string>;
  until: number;
}

export interface SubscriberRegistryOptions {
  presence: PresenceStore;
  /** How long a presence entry lives without refresh. */
  presenceTtlMs: number;
  logger: Logger;
  onCountChange?: (count: number) => void;
  /**
   * Each push's fate: sent on the stream, dropped (the stream could not take it), or skipped (the
   * gateway holding the user has no stream to this pod since its stream ended; it resyncs its
   * clients when it subscribes again).
   */
  onPush?: (result: PushResult) => void;
  onDirectoryRewrite?: (reason: RewriteReason) => void;
  now?: () => number;
}

/**
 * The Connect instances subscribed to this Message pod, the users each holds, and the routing of
 * stored messages to them.
 *
 * Routing reads the announcements on this pod's own streams, never a shared store: every gateway
 * keeps a stream to every Message pod and announces its users on each (and waits for the pod to
 * apply them before it welcomes a client), and a pod can push only on its own streams, so what its
 * streams announced is exactly where it can deliver. A push therefore waits for no lookup, and an
 * empty, slow or absent Redis costs no push. The shared directory (Redis) is written behind
 * (PresenceDirectory) for whoever asks where a user is.
 */
export class SubscriberRegistry {
  private readonly subs = new Map<string, Subscriber>();
  private readonly gone = new Map<string, Gone>();
  /** user → the instances that announced it (one string for the common single gateway). */
  private readonly routes = new Map<string, string | string[]>();
  /** The gateways following each user's online state. */
  private readonly watchers = new Map<string, Set<string>>();
  private readonly directory: PresenceDirectory;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: SubscriberRegistryOptions) {
    this.now = opts.now ?? Date.now;
    this.directory = new PresenceDirectory({
      store: opts.presence,
      ttlMs: opts.presenceTtlMs,
      announced: () => [...this.subs].map(([instance, sub]) => [instance, sub.users] as const),
      logger: opts.logger,
      onRewrite: opts.onDirectoryRewrite,
    });
  }

  /** Starts writing the directory and forgetting gateways whose streams ended long ago. */
  start(): void {
    this.directory.start();
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(100, Math.floor(this.opts.presenceTtlMs / 3)));
    this.sweepTimer.unref();
  }

  /** Registers a Connect instance's stream; a previous stream of the same instance is ended. */
  attach(instance: string, link: SubscriberLink, users: readonly string[]): void {
    const previous = this.subs.get(instance);
    const before = previous?.users ?? this.gone.get(instance)?.users;
    this.gone.delete(instance);
    const now = new Set(users);
    if (before) for (const u of before) if (!now.has(u)) this.unroute(u, instance);
    for (const u of now) if (!before?.has(u)) this.route(u, instance);
    this.subs.set(instance, { link, users: now, watched: new Set() });
    this.opts.onCountChange?.(this.subs.size);
    this.directory.changed(instance, now, []);
    // Ended after the new stream took its place, so that its detach leaves the new one alone.
    if (previous && previous.link !== link) previous.link.end('replaced', 'replaced by a newer stream of the same instance');
  }

  /** Applies a presence change announced on the stream; false when the stream is not (or no longer) this instance's. */
  update(instance: string, link: SubscriberLink, online: readonly string[], offline: readonly string[]): boolean {
    const sub = this.subs.get(instance);
    if (!sub || sub.link !== link) return false;
    for (const u of online) {
      if (sub.users.has(u)) continue;
      sub.users.add(u);
      this.route(u, instance);
    }
    for (const u of offline) {
      if (!sub.users.delete(u)) continue;
      this.unroute(u, instance);
    }
    this.directory.changed(instance, online, offline);
    return true;
  }

  /**
   * Forgets a stream that ended. Its users stay known as the gateway's until it subscribes again
   * or their presence would have expired, so that pushes to them count as skipped; the
   * directory's entries are left to expire (the gateway keeps streams to the other pods, which
   * keep refreshing them).
   */
  detach(instance: string, link: SubscriberLink): boolean {
    const sub = this.subs.get(instance);
    if (sub?.link !== link) return false;
    this.subs.delete(instance);
    this.unwatch(instance, sub.watched);
    this.gone.set(instance, { users: sub.users, until: this.now() + this.opts.presenceTtlMs });
    this.opts.onCountChange?.(this.subs.size);
    return true;
  }

  /**
   * Changes the users a gateway follows the online state of (a new stream follows none); false
   * when the stream is not (or no longer) this instance's. Each change of a followed user is pushed
   * to the gateway by every pod, which all see the same announcements; the gateway forwards it once.
   */
  watch(instance: string, link: SubscriberLink, add: readonly string[], remove: readonly string[]): boolean {
    const sub = this.subs.get(instance);
    if (!sub || sub.link !== link) return false;
    for (const u of add) {
      if (sub.watched.has(u)) continue;
      sub.watched.add(u);
      let set = this.watchers.get(u);
      if (!set) this.watchers.set(u, (set = new Set()));
      set.add(instance);
    }
    this.unwatch(
      instance,
      remove.filter((u) => sub.watched.delete(u)),
    );
    return true;
  }

  /** Whether a user has a connection on some gateway (as the gateways announced on this pod's streams). */
  isOnline(user: string): boolean {
    return this.routes.has(user);
  }

  /** Number of subscribed Connect instances. */
  get size(): number {
    return this.subs.size;
  }

  /**
   * Pushes stored messages, in order, to the Connect instances holding their recipients: one push
   * per instance per message, naming the users it holds. A direct message goes to the gateways of
   * its two users; a group message to those of its audience (its members at its seq).
   */
  routeBatch(items: ReadonlyArray<{ message: Message; origin: Origin; audience?: ReadonlySet<string> }>): void {
    for (const item of items) {
      const { message, origin } = item;
      const targets = item.audience ? this.holding(item.audience) : this.direct(message);
      for (const [instance, recipients] of targets) {
        const sub = this.subs.get(instance);
        if (!sub) {
          // That gateway's stream ended: it resyncs its clients when it subscribes again.
          this.opts.onPush?.('skipped');
          continue;
        }
        // The sending connection has its `accepted` instead of a push — except for a membership
        // change, whose push tells it (as every member) that the change is in effect.
        const exclude = instance === origin.instance && message.kind === undefined ? origin.connection : '';
        const ok = sub.link.push({ message, recipients, excludeConnection: exclude });
        this.opts.onPush?.(ok ? 'sent' : 'dropped');
      }
    }
  }

  /**
   * Pushes a read marker to the gateways holding `users` (the reader, a direct conversation's
   * peer), except to the connection it came from. Nothing is kept for a gateway without a stream:
   * it resyncs its clients when it subscribes again, and `conversations` carries the markers.
   */
  routeRead(marker: ReadMarker, users: readonly string[], origin: Origin): void {
    for (const [instance, recipients] of this.holdingUsers(users)) {
      const link = this.subs.get(instance)?.link;
      if (!link) continue;
      link.pushRead({ marker, recipients, excludeConnection: instance === origin.instance ? origin.connection : '' });
    }
  }

  /** Pushes a typing indicator to the subscribed gateways holding any of `audience` (nothing is kept for the others: it expires anyway). */
  routeTyping(typing: Typing, audience: ReadonlySet<string>): void {
    for (const [instance, recipients] of this.holding(audience)) this.subs.get(instance)?.link.pushTyping({ typing, recipients });
  }

  /**
   * For each user, the connections the gateways holding them report (each asked on its stream),
   * closing them with `close`. A gateway that cannot answer (one whose stream to this pod ended
   * counts too, until it is forgotten) counts `unanswered` for each of its users: 1 when asking who
   * is online (it announced them, so they have at least one), 0 when closing (nothing is known to
   * be closed there).
   */
  async sessions(users: readonly string[], close?: SessionsClose, timeoutMs = 2000, unanswered: 0 | 1 = close ? 0 : 1): Promise<Map<string, number>> {
    const counts = new Map(users.map((u) => [u, 0]));
    const asked = this.holdingUsers([...counts.keys()]);
    await Promise.all(
      [...asked].map(async ([instance, list]) => {
        const answer = await this.subs.get(instance)?.link.sessions(list, close, timeoutMs);
        list.forEach((user, i) => counts.set(user, counts.get(user)! + (answer ? (answer[i] ?? 0) : unanswered)));
      }),
    );
    return counts;
  }

  /** Ends every stream (drain) and stops writing the directory. */
  stop(reason: string): void {
    clearInterval(this.sweepTimer);
    this.directory.stop();
    for (const [instance, sub] of [...this.subs]) {
      sub.link.end('shutdown', reason);
      this.detach(instance, sub.link);
    }
  }

  /** Resolves once the directory has written what was announced before the call. */
  directoryFlushed(): Promise<void> {
    return this.directory.flushed();
  }

  /** Per instance, which of a direct message's users it holds. */
  private direct(message: Message): Map<string, string[]> {
    return this.holdingUsers(message.from === message.to ? [message.from] : [message.to, message.from]);
  }

  /** Per instance, which of `users` it holds. */
  private holdingUsers(users: readonly string[]): Map<string, string[]> {
    const targets = new Map<string, string[]>();
    for (const user of users) {
      const at = this.routes.get(user);
      if (at === undefined) continue;
      for (const instance of typeof at === 'string' ? [at] : at) {
        const list = targets.get(instance);
        if (list) list.push(user);
        else targets.set(instance, [user]);
      }
    }
    return targets;
  }

  /** Per instance (subscribed or gone), the users of `audience` it holds, walking the smaller of the two sets. */
  private holding(audience: ReadonlySet<string>): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const walk = (instance: string, users: ReadonlySet<string>): void => {
      const [small, large] = users.size <= audience.size ? [users, audience] : [audience, users];
      const recipients: string[] = [];
      for (const u of small) if (large.has(u)) recipients.push(u);
      if (recipients.length > 0) out.set(instance, recipients);
    };
    for (const [instance, sub] of this.subs) walk(instance, sub.users);
    for (const [instance, gone] of this.gone) walk(instance, gone.users);
    return out;
  }

  private unwatch(instance: string, users: Iterable<string>): void {
    for (const u of users) {
      const set = this.watchers.get(u);
      set?.delete(instance);
      if (set?.size === 0) this.watchers.delete(u);
    }
  }

  /** Tells the gateways following `user` that they came online or went offline. */
  private presenceChanged(user: string, online: boolean): void {
    for (const instance of this.watchers.get(user) ?? []) this.subs.get(instance)?.link.pushPresence({ user, online });
  }

  private route(user: string, instance: string): void {
    const at = this.routes.get(user);
    if (at === undefined) {
      this.routes.set(user, instance);
      this.presenceChanged(user, true);
    } else if (typeof at === 'string') {
      if (at !== instance) this.routes.set(user, [at, instance]);
    } else if (!at.includes(instance)) at.push(instance);
  }

  private unroute(user: string, instance: string): void {
    const at = this.routes.get(user);
    if (at === undefined) return;
    if (typeof at === 'string') {
      if (at === instance) {
        this.routes.delete(user);
        this.presenceChanged(user, false);
      }
      return;
    }
    const rest = at.filter((i) => i !== instance);
    this.routes.set(user, rest.length === 1 ? rest[0]! : rest);
  }

  /** Forgets gateways gone for longer than the presence TTL (they will not come back as they were). */
  private sweep(): void {
    const now = this.now();
    for (const [instance, gone] of this.gone) {
      if (gone.until > now) continue;
      this.gone.delete(instance);
      for (const u of gone.users) this.unroute(u, instance);
    }
  }
}
