/**
 * The shape every Step Functions task Lambda of this project shares: one
 * function per state machine, the ASL passes `{ "action": "<name>", ... }`,
 * and errors keep their class names because the ASL's Retry/Catch match on them.
 */
import type { Context } from 'aws-lambda';
import { UnknownActionError } from '../errors.js';
import type { Logger } from './logger.js';

export interface TaskEvent {
  action?: unknown;
  [k: string]: unknown;
}

export type TaskActions = Record<string, (event: TaskEvent) => Promise<unknown>>;

export function taskHandler(logger: Logger, actions: TaskActions) {
  return async (event: TaskEvent, context: Context): Promise<unknown> => {
    const action = event.action;
    logger.log('info', 'task', { action, requestId: context?.awsRequestId });
    try {
      const fn = typeof action === 'string' && Object.hasOwn(actions, action) ? actions[action] : undefined;
      if (!fn) throw new UnknownActionError(action);
      return await fn(event);
    } catch (err) {
      const e = err as Error | undefined;
      // Names are the contract with the ASL; messages carry ids only, never secrets.
      logger.log('warn', 'task failed', { action, error: e?.name, message: e?.message });
      throw err;
    }
  };
}
