import { EndpointStream, type EndpointStreamEvents, type EndpointStreamOptions } from './endpoint-stream.js';
import type { Discovery } from './discovery.js';

/** What every endpoint's stream is opened with, plus discovery and the manager's own hooks. */
export interface StreamManagerOptions extends Omit<EndpointStreamOptions, 'endpoint' | 'events'> {
  discovery: Discovery;
  /** Metric and delivery hooks. */
  events: Pick<EndpointStreamEvents, 'onAttempt' | 'onBackoff' | 'onPush' | 'onRead' | 'onTyping' | 'onPresenceChange' | 'onSessions'> & {
    onUp(endpoint: string, reconnect: boolean): void;
    onDown(endpoint: string, wasUp: boolean): void;
    onEndpoints(count: number): void;
    onActiveStreams(count: number): void;
  };
}

/**
 * One subscription stream per discovered Message endpoint. New endpoints get a stream, vanished
 * ones are closed, and every stream failure asks discovery to look again.
 */
export class StreamManager {
  private readonly streams = new Map<string, EndpointStream>();
  private roundRobin = 0;
  private started = false;
  /** Streams lost (failed, or their pod vanished) and not yet re-established (to the same pod or another). */
  private lostUnreplaced = 0;

  constructor(private readonly opts: StreamManagerOptions) {}

  start(): void {
    this.started = true;
    this.opts.discovery.start((endpoints) => this.setEndpoints(endpoints));
  }

  /** Diffs the endpoint set against the open streams. */
  setEndpoints(endpoints: readonly string[]): void {
    if (!this.started) return;
    const wanted = new Set(endpoints);
    for (const [endpoint, stream] of this.streams) {
      if (!wanted.has(endpoint)) {
        // A pod that vanished from discovery while its stream was up (killed, evicted, scaled
        // away): whatever stream comes up next re-establishes what the gateway lost.
        if (stream.state === 'up') this.lostUnreplaced++;
        this.streams.delete(endpoint);
        stream.close();
        this.opts.logger.info({ endpoint }, 'message endpoint removed; stream closed');
      }
    }
    for (const endpoint of wanted) {
      if (this.streams.has(endpoint)) continue;
      const stream = new EndpointStream({ ...this.opts, endpoint, events: this.streamEvents() });
      this.streams.set(endpoint, stream);
      stream.start();
    }
    this.opts.events.onEndpoints(this.streams.size);
    this.opts.events.onActiveStreams(this.upCount);
  }

  /** Number of established subscription streams. */
  get upCount(): number {
    let n = 0;
    for (const s of this.streams.values()) if (s.state === 'up') n++;
    return n;
  }

  get endpointCount(): number {
    return this.streams.size;
  }

  /** An up stream, round robin; undefined when none is up. */
  pick(): EndpointStream | undefined {
    const up = [...this.streams.values()].filter((s) => s.state === 'up');
    if (up.length === 0) return undefined;
    this.roundRobin = (this.roundRobin + 1) % up.length;
    return up[this.roundRobin];
  }

  /**
   * Announces users going online/offline to every Message pod; resolves once every up stream's
   * pod routes them here (see EndpointStream.sendPresence).
   */
  async broadcastPresence(online: string[], offline: string[]): Promise<void> {
    await Promise.all([...this.streams.values()].map((s) => s.sendPresence(online, offline)));
  }

  /** Changes the users this gateway follows on every up stream. */
  broadcastWatch(add: readonly string[], remove: readonly string[]): void {
    for (const s of this.streams.values()) s.sendWatch(add, remove);
  }

  /** Closes every stream and stops discovery. */
  stop(): void {
    this.started = false;
    this.opts.discovery.stop();
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
    this.opts.events.onActiveStreams(0);
  }

  private streamEvents(): EndpointStreamEvents {
    const e = this.opts.events;
    return {
      onAttempt: e.onAttempt,
      onBackoff: e.onBackoff,
      onPush: e.onPush,
      onRead: e.onRead,
      onTyping: e.onTyping,
      onPresenceChange: e.onPresenceChange,
      onSessions: e.onSessions,
      onUp: (stream, reconnect) => {
        e.onActiveStreams(this.upCount);
        // A pod replaced under a Deployment comes back at a new address: its stream re-establishes
        // the one that was lost, as much as a stream back to the same address does.
        const replaces = this.lostUnreplaced > 0;
        if (replaces) this.lostUnreplaced--;
        e.onUp(stream.endpoint, reconnect || replaces);
      },
      onDown: (stream, wasUp) => {
        e.onActiveStreams(this.upCount);
        if (wasUp && this.streams.get(stream.endpoint) === stream) this.lostUnreplaced++;
        e.onDown(stream.endpoint, wasUp);
        if (this.streams.get(stream.endpoint) === stream) this.opts.discovery.refresh();
      },
    };
  }
}
