import type { Logger } from '../../shared/logger.js';
import type { BatchHandler } from '../adapters/log.js';
import type { Sequencer } from './sequencer.js';
import type { SubscriberRegistry } from './subscribers.js';

/**
 * The consume path, the same for every backend: for each entry of a partition batch, in order,
 * assign its seq and store it, then push it to the gateways holding its users. The log commits
 * the batch after this resolves; a store failure rejects, and the batch comes again.
 */
export function createPipeline(deps: {
  sequencer: Sequencer;
  subscribers: SubscriberRegistry;
  logger: Logger;
  onStored?: (latencyMs: number) => void;
  now?: () => number;
}): BatchHandler {
  const now = deps.now ?? Date.now;
  return async (batch) => {
    for (const entry of batch.entries) {
      const stored = await deps.sequencer.store(entry);
      if (!stored) {
        deps.logger.debug({ msgId: entry.msgId, partition: batch.partition }, 'already stored; skipped');
        continue;
      }
      deps.onStored?.(now() - stored.ts);
      try {
        await deps.subscribers.route(stored, entry.originInstance, entry.originConnection);
      } catch (err: unknown) {
        // A push that cannot be made is not an error: the message is stored; clients sync.
        deps.logger.warn({ err, msgId: stored.msgId }, 'push failed');
      }
    }
  };
}
