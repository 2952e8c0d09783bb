import type { Push, ReadPush, TypingPush } from '../../shared/message.js';
import { toMessageFrame } from './frames.js';
import type { SessionRegistry } from './session-registry.js';

/**
 * Delivery to this gateway's clients: a push (a message, a read marker, a typing indicator) goes
 * to every session of its recipients but the one it came from, serialized once however many
 * sessions get it; `resyncAll` tells every client to catch up by sync (after a stream to a Message
 * pod came up or was lost).
 */
export function createDelivery(deps: {
  sessions: SessionRegistry;
  now: () => number;
  /** `count` sessions got a push accepted `latencySeconds` ago. */
  onDelivered?: (count: number, latencySeconds: number) => void;
  onResync?: () => void;
}): { push: (push: Push) => void; read: (push: ReadPush) => void; typing: (push: TypingPush) => void; resyncAll: () => void } {
  /** Writes `frame`, serialized once, to every session of `recipients` but `exclude`; how many took it. */
  const fanOut = (frame: object, recipients: readonly string[], exclude = ''): number => {
    const text = JSON.stringify(frame);
    let delivered = 0;
    for (const user of recipients) {
      for (const session of deps.sessions.of(user)) if (session.id !== exclude && session.deliverSerialized(text)) delivered++;
    }
    return delivered;
  };
  return {
    push: ({ message, recipients, excludeConnection }) => {
      const delivered = fanOut({ type: 'message', ...toMessageFrame(message) }, recipients, excludeConnection);
      if (delivered > 0) deps.onDelivered?.(delivered, Math.max(0, deps.now() - message.ts) / 1000);
    },
    read: ({ marker, recipients, excludeConnection }) => void fanOut({ type: 'read', ...marker }, recipients, excludeConnection),
    typing: ({ typing, recipients }) => void fanOut({ type: 'typing', ...typing }, recipients),
    resyncAll: () => {
      if (deps.sessions.size === 0) return;
      deps.onResync?.();
      for (const s of deps.sessions.all()) s.deliver({ type: 'resync' });
    },
  };
}
