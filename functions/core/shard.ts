/**
 * Sharding the controller (issue "1,000 clusters"): one EventBridge rule per
 * shard passes `{ "shard": i, "of": N }`, and each invocation ticks only the
 * clusters whose stable hash falls in its shard. The hash depends on the
 * cluster's name alone, so a cluster stays in its shard across deploys and
 * config edits that add or remove other clusters. Pure.
 */

/** 32-bit FNV-1a of the UTF-16 code units: stable across processes and Node versions. */
export function stableHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function shardOf(clusterName: string, of: number): number {
  return stableHash(clusterName) % of;
}

export interface Shard {
  shard: number;
  of: number;
}

/** The clusters an invocation of `shard` ticks; every cluster belongs to exactly one shard. */
export function clustersOfShard<C extends { name: string }>(clusters: readonly C[], shard: Shard | undefined): C[] {
  if (shard === undefined || shard.of === 1) return [...clusters];
  return clusters.filter((c) => shardOf(c.name, shard.of) === shard.shard);
}
