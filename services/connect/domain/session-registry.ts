import type { Session } from './session.js';

/** Reports users coming online / going offline; may resolve once the change is applied. */
export type PresenceListener = (online: string[], offline: string[]) => Promise<void> | void;

/**
 * The open sessions of this gateway by user (a user may have many connections). Reports when a
 * user gets their first connection or loses their last, which is what presence needs.
 */
export class SessionRegistry {
  /** A user's one session, or a Set once they have several (most users hold one connection). */
  private readonly byUser = new Map<string, Session | Set<Session>>();
  private count = 0;

  private presence: PresenceListener = () => undefined;

  /**
   * @param onOfflineFailed a user's going offline could not be announced: Message keeps routing
   * their pushes here (dropped, nobody to take them) until the stream announces its users anew.
   */
  constructor(private readonly onOfflineFailed: (user: string, err: unknown) => void = () => undefined) {}
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
    const user = session.user;
    const held = this.byUser.get(user);
    if (held === session || (held instanceof Set && held.has(session))) return Promise.resolve();
    this.count++;
    if (held !== undefined) {
      if (held instanceof Set) held.add(session);
      else this.byUser.set(user, new Set([held, session]));
      return this.announcing.get(user) ?? Promise.resolve();
    }
    this.byUser.set(user, session);
    const applied = Promise.resolve(this.presence([user], [])).finally(() => {
      if (this.announcing.get(user) === applied) this.announcing.delete(user);
    });
    this.announcing.set(user, applied);
    return applied;
  }

  remove(session: Session): void {
    const user = session.user;
    const held = this.byUser.get(user);
    if (held instanceof Set) {
      if (!held.delete(session)) return;
      this.count--;
      // Back to one session: held as itself again.
      if (held.size === 1) this.byUser.set(user, held.values().next().value!);
      return;
    }
    if (held !== session) return;
    this.count--;
    this.byUser.delete(user);
    this.announcing.delete(user);
    void Promise.resolve(this.presence([], [user])).catch((err: unknown) => this.onOfflineFailed(user, err));
  }

  /** Sessions of a user (empty when offline here). */
  of(user: string): Iterable<Session> {
    const held = this.byUser.get(user);
    return held === undefined ? [] : held instanceof Set ? held : [held];
  }

  /** Number of sessions of a user. */
  countOf(user: string): number {
    const held = this.byUser.get(user);
    return held === undefined ? 0 : held instanceof Set ? held.size : 1;
  }

  /** Users with at least one session. */
  users(): string[] {
    return [...this.byUser.keys()];
  }

  all(): Session[] {
    return [...this.byUser.values()].flatMap((held) => (held instanceof Set ? [...held] : [held]));
  }

  get size(): number {
    return this.count;
  }
}
