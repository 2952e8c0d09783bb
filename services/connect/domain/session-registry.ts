import type { Session } from './session.js';

/** Reports users coming online / going offline; may resolve once the change is applied. */
export type PresenceListener = (online: string[], offline: string[]) => Promise<void> | void;

/**
 * The open sessions of this gateway by user (a user may have many connections). Reports when a
 * user gets their first connection or loses their last, which is what presence needs.
 */
export class SessionRegistry {
  private readonly byUser = new Map<string, Set<Session>>();
  private count = 0;

  private presence: PresenceListener = () => undefined;
  /** Users whose coming online is announced but not yet confirmed, with the confirmation. */
  private readonly announcing = new Map<string, Promise<void>>();

  /** Where a user's first connection and last disconnection are reported (the streams to Message). */
  onPresence(listener: PresenceListener): void {
    this.presence = listener;
  }

  /**
   * Adds a session. Resolves once its user's presence is applied where messages are routed (at
   * once when the user was here already and confirmed): pushes for the user reach this gateway
   * from then on, so what the client syncs after `welcome` and what is pushed leave no gap.
   */
  add(session: Session): Promise<void> {
    let set = this.byUser.get(session.user);
    const first = !set;
    if (!set) this.byUser.set(session.user, (set = new Set()));
    if (set.has(session)) return Promise.resolve();
    set.add(session);
    this.count++;
    if (!first) return this.announcing.get(session.user) ?? Promise.resolve();
    const user = session.user;
    const applied = Promise.resolve(this.presence([user], [])).finally(() => {
      if (this.announcing.get(user) === applied) this.announcing.delete(user);
    });
    this.announcing.set(user, applied);
    return applied;
  }

  remove(session: Session): void {
    const set = this.byUser.get(session.user);
    if (!set?.delete(session)) return;
    this.count--;
    if (set.size === 0) {
      this.byUser.delete(session.user);
      this.announcing.delete(session.user);
      void Promise.resolve(this.presence([], [session.user])).catch(() => undefined);
    }
  }

  /** Sessions of a user (empty when offline here). */
  of(user: string): Iterable<Session> {
    return this.byUser.get(user) ?? [];
  }

  /** Number of sessions of a user. */
  countOf(user: string): number {
    return this.byUser.get(user)?.size ?? 0;
  }

  /** Users with at least one session. */
  users(): string[] {
    return [...this.byUser.keys()];
  }

  all(): Session[] {
    return [...this.byUser.values()].flatMap((s) => [...s]);
  }

  get size(): number {
    return this.count;
  }
}
