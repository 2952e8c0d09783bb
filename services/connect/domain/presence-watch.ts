import type { PresenceChange } from '../../shared/message.js';

/** The part of a session the watch delivers to. */
export interface Follower {
  readonly id: string;
  deliver(frame: { type: 'presence'; user: string; online: boolean }): boolean;
}

export interface PresenceWatchOptions {
  /** How long a user must stay offline before followers are told (a reconnect blip is no flap). */
  debounceMs: number;
  /** Tells every Message pod which users this gateway follows from now on, and which no more. */
  announce(add: readonly string[], remove: readonly string[]): void;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/**
 * The users this gateway's clients follow the online state of (`presence` frames), and the changes
 * forwarded to them. Every Message pod sees every gateway's announcements and pushes each change of
 * a followed user; a change is forwarded once, when it differs from what the followers were last
 * told, and going offline only after `debounceMs` without coming back.
 */
export class PresenceWatch {
  /** Who each follower follows. */
  private readonly follows = new Map<string, { follower: Follower; users: Set<string> }>();
  /** The followers of each user. */
  private readonly followers = new Map<string, Set<Follower>>();
  /** What the followers of each user were last told (or given in the answer to their `presence`). */
  private readonly told = new Map<string, boolean>();
  /** Offline changes waiting for the debounce, by user. */
  private readonly pending = new Map<string, unknown>();

  constructor(private readonly opts: PresenceWatchOptions) {}

  /** Every user followed (announced again on a new stream to a pod). */
  get users(): string[] {
    return [...this.followers.keys()];
  }

  /** The follower follows `users` from now on (and no one else), whose state now is `online`. */
  follow(follower: Follower, users: readonly string[], online: readonly boolean[]): void {
    const before = this.follows.get(follower.id)?.users ?? new Set<string>();
    const now = new Set(users);
    const add: string[] = [];
    const remove: string[] = [];
    for (const u of now) {
      if (before.has(u)) continue;
      let set = this.followers.get(u);
      if (!set) {
        this.followers.set(u, (set = new Set()));
        add.push(u);
      }
      set.add(follower);
    }
    // A user already followed keeps what the others were told: a change on its way settles both.
    users.forEach((u, i) => {
      if (!this.told.has(u)) this.told.set(u, online[i] ?? false);
    });
    for (const u of before) if (!now.has(u)) this.drop(follower, u, remove);
    if (now.size === 0) this.follows.delete(follower.id);
    else this.follows.set(follower.id, { follower, users: now });
    if (add.length > 0 || remove.length > 0) this.opts.announce(add, remove);
  }

  /** The follower is gone (its connection closed). */
  forget(follower: Follower): void {
    const f = this.follows.get(follower.id);
    if (!f) return;
    this.follows.delete(follower.id);
    const remove: string[] = [];
    for (const u of f.users) this.drop(follower, u, remove);
    if (remove.length > 0) this.opts.announce([], remove);
  }

  /** A pod pushed a change of a followed user. */
  changed({ user, online }: PresenceChange): void {
    if (!this.followers.has(user)) return;
    const waiting = this.pending.get(user);
    if (online) {
      if (waiting !== undefined) {
        // Back within the debounce: the followers never saw them go.
        this.opts.clearTimer(waiting);
        this.pending.delete(user);
        return;
      }
      this.tell(user, true);
      return;
    }
    if (waiting !== undefined || this.told.get(user) === false) return;
    this.pending.set(
      user,
      this.opts.setTimer(() => {
        this.pending.delete(user);
        this.tell(user, false);
      }, this.opts.debounceMs),
    );
  }

  private tell(user: string, online: boolean): void {
    if (this.told.get(user) === online) return;
    this.told.set(user, online);
    for (const f of this.followers.get(user) ?? []) f.deliver({ type: 'presence', user, online });
  }

  private drop(follower: Follower, user: string, remove: string[]): void {
    const set = this.followers.get(user);
    if (!set) return;
    set.delete(follower);
    if (set.size > 0) return;
    this.followers.delete(user);
    this.told.delete(user);
    const waiting = this.pending.get(user);
    if (waiting !== undefined) this.opts.clearTimer(waiting);
    this.pending.delete(user);
    remove.push(user);
  }
}
