/**
 * ELB's API request throttling ("Request throttling for the ELB API", Elastic
 * Load Balancing User Guide): a token bucket per account and Region, shared
 * with every other caller; its documented example for the non-mutating
 * `Describe*` actions holds 40 tokens refilled at 10 a second. ELB API
 * version 2 (target groups) and version 1 (Classic) have a bucket each.
 * `vault-ha config check` warns against it; the sandbox's ELBv2 endpoint
 * models it when asked (sandbox/aws/elbv2.ts).
 */
export const ELB_DESCRIBE_RATE = { capacity: 40, refillPerSecond: 10 } as const;
