import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';

export type Handler = (message: Record<string, unknown>) => void;

/**
 * Fan-out between server nodes. In-process by default; through Redis when REDIS_URL is set, so
 * that a revocation or a tenant suspension on one node takes effect on every node. Messages name
 * their tenant; channels are system channels under the `palazzo:` prefix.
 */
export type PubSub = {
  publish(channel: string, message: Record<string, unknown>): Promise<void>;
  subscribe(channel: string, handler: Handler): Promise<void>;
  readonly kind: 'local' | 'redis';
  close(): Promise<void>;
};

export function createLocalPubSub(): PubSub {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    kind: 'local',
    async publish(channel, message) {
      emitter.emit(channel, message);
    },
    async subscribe(channel, handler) {
      emitter.on(channel, handler);
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}

export function createRedisPubSub(url: string, onError: (error: Error) => void): PubSub {
  // Publishing fails fast when Redis is down (callers log it; caches then expire by TTL); the
  // subscriber keeps its offline queue so that it subscribes, and resubscribes, once Redis is back.
  const publisher = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 500 });
  const subscriber = new Redis(url, { enableOfflineQueue: true, maxRetriesPerRequest: null });
  publisher.on('error', onError);
  subscriber.on('error', onError);
  const local = new EventEmitter();
  local.setMaxListeners(0);
  subscriber.on('message', (channel: string, raw: string) => {
    try {
      local.emit(channel, JSON.parse(raw));
    } catch (error) {
      onError(error as Error);
    }
  });
  return {
    kind: 'redis',
    async publish(channel, message) {
      await publisher.publish(`palazzo:${channel}`, JSON.stringify(message));
    },
    async subscribe(channel, handler) {
      local.on(`palazzo:${channel}`, handler);
      // Not awaited: start-up must not wait for an unreachable Redis.
      subscriber.subscribe(`palazzo:${channel}`).catch(onError);
    },
    async close() {
      local.removeAllListeners();
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}
