import type { Push, ReadPush, TypingPush } from '../../shared/message.js';
import { toMessageFrame } from './frames.js';
import type { SessionRegistry } from './session-registry.js';

/**
 * Delivery to this gateway's clients: a push (a message, a read marker, a typing indicator) goes to every session of
 * its recipients but the one it came from, serialized once however many sessions get it; `resyncAll` tells every client to
 * catch up by sync (after a stream to a Message pod came up or was lost).
 */
export function createDelivery(deps: {
  sessions: SessionRegistry;
  now: () => number;
  /** `count` sessions got a push accepted `latencySeconds` ago. */
  onDelivered?: (count: number, latencySeconds: number) => void;
  onResync?: () => void;
}): { push: (push: Push) => void; read: (push: ReadPush) => void; typing: (push: TypingPush) => void; resyncAll: () => void } {
  return {
    push: ({ message, recipients, excludeConnection }) => {
      const text = JSON.stringify({ type: 'message', ...toMessageFrame(message) });
      let delivered = 0;
      for (const user of recipients) {
        for (const session of deps.sessions.of(user)) {
          if (session.id !== excludeConnection && session.deliverSerialized(text)) delivered++;
        }
      }
      if (delivered > 0) deps.onDelivered?.(delivered, Math.max(0, deps.now() - message.ts) / 1000);
    },
    read: ({ marker, recipients, excludeConnection }) => {
      const text = JSON.stringify({ type: 'read', ...marker });
      for (const user of recipients) for (const session of deps.sessions.of(user)) if (session.id !== excludeConnection) session.deliverSerialized(text);
    },
    typing: ({ typing, recipients }) => {
      const text = JSON.stringify({ type: 'typing', ...typing });
      for (const user of recipients) for (const session of deps.sessions.of(user)) session.deliverSerialized(text);
    },
    resyncAll: () => {
      if (deps.sessions.size === 0) return;
      deps.onResync?.();
      for (const s of deps.sessions.all()) s.deliver({ type: 'resync' });
    },
  };
}
