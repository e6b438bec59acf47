import type { PubSub } from './pubsub.ts';

/**
 * What changed, so that every node drops what it cached about it. Always names the tenant, except
 * a configuration change above the tenant level (global, profile, tier, rollout), which names the
 * level and drops the effective configuration of every tenant it reaches.
 */
export type Invalidation =
  | { type: 'tenant'; tenantId: string }
  | { type: 'config'; scope: 'tenant'; tenantId: string }
  | { type: 'config'; scope: 'global' | 'profile' | 'tier' | 'rollout'; key?: string }
  | { type: 'session'; tenantId: string; sessionId: string }
  | { type: 'user'; tenantId: string; userId: string }
  | { type: 'api_key'; tenantId: string; apiKeyId: string }
  | { type: 'role'; tenantId: string; roleKey: string };

const CHANNEL = 'invalidate';

export type InvalidationBus = {
  /** Applies locally at once (this node never serves stale data), then tells the other nodes. */
  publish(event: Invalidation): Promise<void>;
  on(handler: (event: Invalidation) => void): void;
  start(): Promise<void>;
};

export function createInvalidationBus(pubsub: PubSub, onError: (error: Error) => void): InvalidationBus {
  const handlers: Array<(event: Invalidation) => void> = [];
  const deliver = (event: Invalidation) => {
    for (const handler of handlers) handler(event);
  };
  return {
    async publish(event) {
      deliver(event);
      if (pubsub.kind === 'local') return;
      try {
        await pubsub.publish(CHANNEL, event);
      } catch (error) {
        // Other nodes still drop the entry when its short TTL ends; never fail the request for it.
        onError(error as Error);
      }
    },
    on(handler) {
      handlers.push(handler);
    },
    async start() {
      if (pubsub.kind === 'local') return;
      await pubsub.subscribe(CHANNEL, (message) => deliver(message as Invalidation));
    },
  };
}
