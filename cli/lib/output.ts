/**
 * Where the CLI writes: results on stdout (one JSON document with --json,
 * aligned text otherwise), progress and warnings on stderr, so
 * `vault-ha status --json | jq` always sees pure JSON. Colour only on a TTY and
 * never with NO_COLOR or --no-color (https://no-color.org).
 */

export interface Writable {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface OutputOptions {
  stdout: Writable;
  stderr: Writable;
  json: boolean;
  color: boolean;
}

type Color = 'green' | 'red' | 'yellow' | 'bold' | 'dim' | 'cyan';
const CODES: Record<Color, [number, number]> = { green: [32, 39], red: [31, 39], yellow: [33, 39], bold: [1, 22], dim: [2, 22], cyan: [36, 39] };

export class Output {
  readonly json: boolean;
  private readonly color: boolean;
  constructor(private readonly opts: OutputOptions) {
    this.json = opts.json;
    this.color = opts.color && !opts.json;
  }

  static forProcess(json: boolean, noColor: boolean): Output {
    const color = process.stdout.isTTY === true && !noColor && (process.env.NO_COLOR ?? '') === '' && process.env.TERM !== 'dumb';
    return new Output({ stdout: process.stdout, stderr: process.stderr, json, color });
  }

  /** A line of the human result (dropped with --json). */
  line(text = ''): void {
    if (!this.json) this.opts.stdout.write(`${text}\n`);
  }

  /** The machine result (only with --json). */
  result(value: unknown): void {
    if (this.json) this.opts.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Warnings, progress lines and errors: stderr, in both modes. */
  note(text: string): void {
    this.opts.stderr.write(`${text}\n`);
  }

  paint(c: Color, text: string): string {
    if (!this.color) return text;
    const [on, off] = CODES[c];
    return `\x1b[${on}m${text}\x1b[${off}m`;
  }

  /** Colour for a verdict or a result word: green when good, red when bad, yellow otherwise. */
  status(word: string, good: boolean, bad: boolean): string {
    return this.paint(good ? 'green' : bad ? 'red' : 'yellow', word);
  }

  /** Aligned columns, like `patronictl list` (widths ignore colour codes). */
  table(headers: string[], rows: string[][]): string[] {
    const visible = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, '').length;
    const widths = headers.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
    const fmt = (cells: string[]): string =>
      cells
        .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - visible(c)))))
        .join('  ')
        .trimEnd();
    return [this.paint('bold', fmt(headers)), ...rows.map(fmt)];
  }

  /**
   * Progress of a long wait on stderr: a spinner line rewritten in place on a
   * TTY, otherwise one plain line each time the text changes (CI logs stay readable).
   */
  progress(label: string): Progress {
    const tty = this.opts.stderr.isTTY === true;
    return new Progress(this.opts.stderr, label, tty);
  }
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class Progress {
  private text = '';
  private lastPrinted = '';
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedMs = Date.now();

  constructor(
    private readonly stream: Writable,
    private readonly label: string,
    private readonly tty: boolean,
  ) {
    if (tty) {
      this.timer = setInterval(() => this.draw(), 120);
      this.timer.unref();
    }
  }

  update(text: string): void {
    this.text = text;
    if (this.tty) this.draw();
    else if (text !== this.lastPrinted) {
      this.lastPrinted = text;
      this.stream.write(`[${elapsed(Date.now() - this.startedMs)}] ${this.label}: ${text}\n`);
    }
  }

  done(final?: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.stream.write('\r\x1b[2K');
    if (final !== undefined) this.stream.write(`[${elapsed(Date.now() - this.startedMs)}] ${this.label}: ${final}\n`);
  }

  private draw(): void {
    const width = Math.max(20, (this.stream.columns ?? 100) - 1);
    const line = `${FRAMES[this.frame++ % FRAMES.length]} ${this.label}: ${this.text} (${elapsed(Date.now() - this.startedMs)})`;
    this.stream.write(`\r\x1b[2K${line.slice(0, width)}`);
  }
}

/** 75000 → "1:15"; 3725000 → "1:02:05". */
export function elapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/** "3 s ago", "2 min ago", "in 1h59m" relative to now. */
export function relative(atMs: number, nowMs: number): string {
  const d = atMs - nowMs;
  const abs = Math.abs(d);
  const text = abs < 60_000 ? `${Math.round(abs / 1000)} s` : abs < 3_600_000 ? `${Math.round(abs / 60_000)} min` : `${(abs / 3_600_000).toFixed(1)} h`;
  return d <= 0 ? `${text} ago` : `in ${text}`;
}
