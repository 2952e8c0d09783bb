import type { Session } from './session.js';

/**
 * The open sessions of this gateway by user (a user may have many connections). Reports when a
 * user gets their first connection or loses their last, which is what presence needs.
 */
export class SessionRegistry {
  private readonly byUser = new Map<string, Set<Session>>();
  private count = 0;

  private presence: (online: string[], offline: string[]) => void = () => undefined;

  /** Where a user's first connection and last disconnection are reported (the streams to Message). */
  onPresence(listener: (online: string[], offline: string[]) => void): void {
    this.presence = listener;
  }

  add(session: Session): void {
    let set = this.byUser.get(session.user);
    const first = !set;
    if (!set) this.byUser.set(session.user, (set = new Set()));
    if (set.has(session)) return;
    set.add(session);
    this.count++;
    if (first) this.presence([session.user], []);
  }

  remove(session: Session): void {
    const set = this.byUser.get(session.user);
    if (!set?.delete(session)) return;
    this.count--;
    if (set.size === 0) {
      this.byUser.delete(session.user);
      this.presence([], [session.user]);
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
