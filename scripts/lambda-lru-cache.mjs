// What the Lambda bundles put in place of mnemonist's LRUCache (scripts/build.mjs
// smallLruCache): the only user is @aws-sdk/endpoint-cache, behind DynamoDB's
// endpoint discovery, which is off unless a client enables it (none of ours
// does). It needs get, set, has, peek and clear with least-recently-used
// eviction past `capacity`; a Map kept in use order does that in 30 lines
// instead of 7 KB of mnemonist and obliterator.
export default class LRUCache {
  constructor(capacity) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`LRUCache capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.items = new Map();
  }

  get size() {
    return this.items.size;
  }

  /** The value, marked most recently used. */
  get(key) {
    if (!this.items.has(key)) return undefined;
    const value = this.items.get(key);
    this.items.delete(key);
    this.items.set(key, value);
    return value;
  }

  /** The value, its recency untouched. */
  peek(key) {
    return this.items.get(key);
  }

  has(key) {
    return this.items.has(key);
  }

  set(key, value) {
    this.items.delete(key);
    this.items.set(key, value);
    if (this.items.size > this.capacity) this.items.delete(this.items.keys().next().value);
    return this;
  }

  clear() {
    this.items.clear();
  }
}
