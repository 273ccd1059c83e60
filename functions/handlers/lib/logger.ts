/** Structured JSON logs (one line each) so CloudWatch Logs Insights can query them. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
  /** Raw line (EMF metrics must be printed as-is). */
  raw(line: string): void;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function jsonLogger(service: string, minLevel: LogLevel = (process.env.LOG_LEVEL as LogLevel) ?? 'info'): Logger {
  const min = LEVELS[minLevel] ?? LEVELS.info;
  return {
    log(level, message, fields) {
      if (LEVELS[level] < min) return;
      const line = JSON.stringify({ level, service, time: new Date().toISOString(), message, ...fields });
      if (level === 'error' || level === 'warn') console.error(line);
      else console.log(line);
    },
    raw(line) {
      console.log(line);
    },
  };
}

export const silentLogger: Logger = { log() {}, raw() {} };
