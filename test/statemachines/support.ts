/** Shared by the tests that execute state machine definitions against the stateful fakes. */
import { createRequire } from 'node:module';

/** Instance ids of the fake three-node cluster (slots vault-a, vault-b, vault-c). */
export const A = 'i-0aaaaaaaaaaaaaaa1';
export const B = 'i-0bbbbbbbbbbbbbbb2';
export const C = 'i-0ccccccccccccccc3';
export const TABLE = 'vault-ha-control';

/** Every mutating API either workflow may call: a dry run or a refusal must call none of them. */
export const MUTATING = [
  'RunInstances',
  'TerminateInstances',
  'StopInstances',
  'StartInstances',
  'AttachVolume',
  'DetachVolume',
  'DetachNetworkInterface',
  'ModifyInstanceAttribute',
  'ModifyNetworkInterfaceAttribute',
  'CreateTags',
  'DeregisterTargets',
  'SendCommand',
];

// asl-validator is CommonJS and ships no type declarations.
export const validateAsl = createRequire(import.meta.url)('asl-validator') as (
  definition: unknown,
  options: { checkArn: boolean; checkPaths: boolean },
) => { isValid: boolean; errorsText: (separator: string) => string };
