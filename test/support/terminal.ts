import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// CSI and OSC sequences, and the carriage returns a terminal line discipline adds.
// Terminal escape sequences are control characters by definition.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r/g;

/**
 * A command run in a pseudo-terminal, as a person runs it: `script` (util-linux) allocates the
 * pty, what the test writes is typed into it, and everything the program prints is collected
 * (with terminal escape sequences removed). `script` starts the command with `$SHELL -c`; the
 * command is exec'd so that it runs as the terminal's foreground job itself, as it does under an
 * interactive shell (dash, unlike bash, stays in between and turns a Ctrl-C into exit 130).
 */
export class Terminal {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private raw = '';

  constructor(command: string, env: Record<string, string> = {}) {
    this.child = spawn('script', ['-qfec', `exec ${command}`, '/dev/null'], {
      cwd: ROOT,
      env: { ...process.env, TERM: 'xterm', COLUMNS: '200', LINES: '50', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (c: Buffer) => (this.raw += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.raw += c.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Everything printed so far, without escape sequences. */
  get text(): string {
    return this.raw.replace(ANSI, '');
  }

  /** Types a line and presses Enter. */
  type(line: string): void {
    this.child.stdin!.write(`${line}\r`);
  }

  /** Presses Ctrl-C: the terminal sends SIGINT to its whole foreground process group. */
  interrupt(): void {
    this.child.stdin!.write('\x03');
  }

  /** Closes the terminal's input (Ctrl-D at an empty prompt). */
  endInput(): void {
    this.child.stdin!.write('\x04');
  }

  /** Waits until the output matches `pattern` `times` times; returns the matches. */
  async waitFor(pattern: RegExp, timeoutMs = 20_000, times = 1): Promise<RegExpMatchArray[]> {
    const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = [...this.text.matchAll(global)];
      if (found.length >= times) return found;
      if (Date.now() > deadline) throw new Error(`no ${times}× ${pattern} within ${timeoutMs} ms; the terminal shows:\n${this.text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** How often `pattern` occurs in the output so far. */
  count(pattern: RegExp): number {
    return [...this.text.matchAll(new RegExp(pattern.source, 'g'))].length;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
