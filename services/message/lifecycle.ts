/** The phases of a Message pod's life. */
export type Phase = 'starting' | 'serving' | 'draining' | 'stopping' | 'stopped';

/**
 * A Message pod's lifecycle, the one state the transport, readiness and health read:
 *
 *     starting ─backends connected→ serving ─SIGTERM→ draining ─drain window over→ stopping → stopped
 *     starting ─SIGTERM→ stopping
 *
 * starting: backends connecting; calls refused, new streams parked until the pod serves.
 * serving: everything served. draining: /readyz 503 and health NOT_SERVING, no new streams, but
 * calls and the streams there are served for the drain window. stopping: streams ended so that
 * gateways move on, calls refused. What each phase means for the outside is set on entering it,
 * here (`transition`), and nowhere else.
 */
export class PodLifecycle {
  private phase: Phase = 'starting';
  private settle!: (refusal: string | undefined) => void;
  private readonly served = new Promise<string | undefined>((resolve) => (this.settle = resolve));

  /** `serving`: told true on entering serving, false on leaving it or giving up on it (gRPC health). */
  constructor(private readonly serving: (serving: boolean) => void) {}

  get current(): Phase {
    return this.phase;
  }

  /** A stop was asked for (draining or later): backend retries give up, readiness says draining. */
  get stopRequested(): boolean {
    return this.phase === 'draining' || this.phase === 'stopping' || this.phase === 'stopped';
  }

  /** Why calls are refused now; undefined while they are served (serving, draining). */
  get refusal(): string | undefined {
    if (this.phase === 'serving' || this.phase === 'draining') return undefined;
    return this.phase === 'starting' ? 'backends are not connected yet' : 'message pod is shutting down';
  }

  /** For a new stream: undefined once the pod serves it, or why it never will (settles once). */
  streamsServed(): Promise<string | undefined> {
    return this.stopRequested ? Promise.resolve('message pod is draining') : this.served;
  }

  /**
   * Moves to `to` when the pod is in one of `from` (false otherwise: another transition came first,
   * e.g. a stop while the backends were connecting), and applies what entering `to` means.
   */
  transition(from: readonly Phase[], to: Phase): boolean {
    if (!from.includes(this.phase)) return false;
    const was = this.phase;
    this.phase = to;
    if (to === 'serving') {
      this.settle(undefined);
      this.serving(true);
    } else if (was === 'serving' || was === 'starting') {
      // Draining, or stopping before it ever served: no new stream from here on.
      this.settle('message pod is draining');
      this.serving(false);
    }
    return true;
  }
}
