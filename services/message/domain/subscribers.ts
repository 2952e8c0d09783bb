import type { Logger } from '../../shared/logger.js';
import type { PresenceStore } from '../adapters/presence.js';
import type { StoredMessage } from '../adapters/store.js';

/** A push as handed to one Connect instance. */
export interface PushFrame {
  message: StoredMessage;
  recipients: string[];
  excludeConnection: string;
}

/** The Message side of one Connect instance's subscription stream. */
export interface SubscriberLink {
  /** Queues a push on the stream; false when the stream can no longer take it. */
  push(frame: PushFrame): boolean;
  /** Ends the stream with UNAVAILABLE and `reason` (Connect then moves to other pods). */
  end(reason: string): void;
}

interface Subscriber {
  link: SubscriberLink;
  users: Set<string>;
}

export interface SubscriberRegistryOptions {
  presence: PresenceStore;
  /** How long a presence entry lives without refresh. */
  presenceTtlMs: number;
  logger: Logger;
  onCountChange?: (count: number) => void;
  onPush?: (result: 'sent' | 'dropped') => void;
}

/**
 * The Connect instances subscribed to this Message pod, the users each holds, and the routing of
 * stored messages to them. Presence entries are written to the shared presence store and
 * refreshed while the stream lives, so any Message pod can find where a user is.
 */
export class SubscriberRegistry {
  private readonly subs = new Map<string, Subscriber>();
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SubscriberRegistryOptions) {}

  /** Starts the periodic refresh of presence entries (every third of the TTL). */
  start(): void {
    this.refreshTimer = setInterval(() => void this.refreshAll(), Math.max(100, Math.floor(this.opts.presenceTtlMs / 3)));
    this.refreshTimer.unref();
  }

  /** Registers a Connect instance's stream; a previous stream of the same instance is ended. */
  async attach(instance: string, link: SubscriberLink, users: readonly string[]): Promise<void> {
    const previous = this.subs.get(instance);
    if (previous && previous.link !== link) previous.link.end('replaced by a newer stream of the same instance');
    this.subs.set(instance, { link, users: new Set(users) });
    this.opts.onCountChange?.(this.subs.size);
    await this.writePresence(instance, users, []);
  }

  /** Applies a presence change announced on the stream. */
  async update(instance: string, link: SubscriberLink, online: readonly string[], offline: readonly string[]): Promise<void> {
    const sub = this.subs.get(instance);
    if (!sub || sub.link !== link) return;
    for (const u of online) sub.users.add(u);
    for (const u of offline) sub.users.delete(u);
    await this.writePresence(instance, online, offline);
  }

  /**
   * Forgets a stream that ended. Its presence entries are left to expire: the same Connect
   * instance keeps streams to the other Message pods, which keep refreshing them.
   */
  detach(instance: string, link: SubscriberLink): void {
    if (this.subs.get(instance)?.link !== link) return;
    this.subs.delete(instance);
    this.opts.onCountChange?.(this.subs.size);
  }

  /** Number of subscribed Connect instances. */
  get size(): number {
    return this.subs.size;
  }

  /**
   * Pushes stored messages, in order, to the Connect instances holding their recipients: one push
   * per instance per message, naming the users it holds. A direct message's two users are found
   * with one presence lookup for the batch (the instances' own announcements on their streams when
   * the presence store cannot answer); a group message's audience — its members at its seq — is
   * matched against what each subscribed instance announced, so a group of thousands costs no
   * presence lookup per member.
   */
  async routeBatch(items: ReadonlyArray<{ message: StoredMessage; originInstance: string; originConnection: string; audience?: ReadonlySet<string> }>): Promise<void> {
    if (items.length === 0) return;
    const direct = items.filter((i) => i.audience === undefined);
    const users = [...new Set(direct.flatMap(({ message: m }) => (m.from === m.to ? [m.from] : [m.to, m.from])))];
    let where = new Map<string, string[]>();
    if (users.length > 0) {
      try {
        where = await this.opts.presence.lookup(users);
      } catch (err: unknown) {
        this.opts.logger.warn({ err }, 'presence lookup failed; routing by stream announcements');
        where = this.announced(users);
      }
    }
    for (const item of items) {
      const { message, originInstance, originConnection } = item;
      const targets = item.audience ? this.holding(item.audience) : directTargets(message, where);
      for (const [instance, recipients] of targets) {
        const sub = this.subs.get(instance);
        if (!sub) continue; // that gateway has no stream to this pod: its clients catch up by sync
        // The sending connection has its `accepted` instead of a push — except for a membership
        // change, whose push tells it (as every member) that the change is in effect.
        const exclude = instance === originInstance && message.kind === undefined ? originConnection : '';
        const ok = sub.link.push({ message, recipients, excludeConnection: exclude });
        this.opts.onPush?.(ok ? 'sent' : 'dropped');
      }
    }
  }

  /** Which subscribed instances announced each of these users. */
  private announced(users: readonly string[]): Map<string, string[]> {
    const where = new Map<string, string[]>();
    for (const [instance, sub] of this.subs) {
      for (const u of users) {
        if (!sub.users.has(u)) continue;
        const at = where.get(u);
        if (at) at.push(instance);
        else where.set(u, [instance]);
      }
    }
    return where;
  }

  /** Per subscribed instance, the users of `audience` it holds (walking the smaller of the two sets). */
  private holding(audience: ReadonlySet<string>): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [instance, sub] of this.subs) {
      const [small, large] = sub.users.size <= audience.size ? [sub.users, audience] : [audience, sub.users];
      const recipients: string[] = [];
      for (const u of small) if (large.has(u)) recipients.push(u);
      if (recipients.length > 0) out.set(instance, recipients);
    }
    return out;
  }

  /** Ends every stream (drain) and stops refreshing. */
  stop(reason: string): void {
    clearInterval(this.refreshTimer);
    for (const [instance, sub] of [...this.subs]) {
      sub.link.end(reason);
      this.detach(instance, sub.link);
    }
  }

  private async writePresence(instance: string, online: readonly string[], offline: readonly string[]): Promise<void> {
    try {
      if (online.length > 0) await this.opts.presence.refresh(instance, online, this.opts.presenceTtlMs);
      if (offline.length > 0) await this.opts.presence.remove(instance, offline);
    } catch (err: unknown) {
      // The next refresh round writes the entries again; routing falls back meanwhile.
      this.opts.logger.warn({ err, instance }, 'presence write failed');
    }
  }

  private async refreshAll(): Promise<void> {
    for (const [instance, sub] of this.subs) {
      if (sub.users.size > 0) await this.writePresence(instance, [...sub.users], []);
    }
  }
}

/** Per instance, which of a direct message's users it holds (from a presence lookup). */
function directTargets(message: StoredMessage, where: ReadonlyMap<string, string[]>): Map<string, string[]> {
  const targets = new Map<string, string[]>();
  for (const user of message.from === message.to ? [message.from] : [message.to, message.from]) {
    for (const instance of where.get(user) ?? []) {
      const list = targets.get(instance);
      if (list) list.push(user);
      else targets.set(instance, [user]);
    }
  }
  return targets;
}
