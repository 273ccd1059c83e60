/** A Map-based LRU with mnemonist LRUCache's get/set/has/peek/clear (scripts/lambda-lru-cache.mjs). */
export default class LRUCache<K = unknown, V = unknown> {
  constructor(capacity: number);
  readonly capacity: number;
  readonly size: number;
  get(key: K): V | undefined;
  peek(key: K): V | undefined;
  has(key: K): boolean;
  set(key: K, value: V): this;
  clear(): void;
}
