import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { spawnDialer } from './processes';

/**
 * One `dialer <command>` process under a supervisor, as systemd or Kubernetes would run it:
 * restarted when it dies on its own (counted), killed with SIGKILL when the fault driver says so
 * (then restarted by the driver), stopped with SIGTERM at the end. Its output goes to a log file.
 */
export class Service {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private intentional = false;
  private stopped = false;
  /** Exits nobody asked for (a crash), each followed by a restart after a second. */
  crashes = 0;
  starts = 0;

  constructor(
    readonly name: string,
    private readonly command: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
    /** Flags for node itself (e.g. --cpu-prof, which NODE_OPTIONS may not carry). */
    private readonly nodeFlags: string[] = [],
  ) {}

  get alive(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.alive ? this.proc?.pid : undefined;
  }

  start(): void {
    if (this.stopped || this.alive) return;
    const log = fs.openSync(this.logFile, 'a');
    fs.writeSync(log, `--- ${new Date().toISOString()} start ${this.name}\n`);
    const proc = spawnDialer(this.command, this.env, {
      stdio: ['ignore', log, log],
      nodeFlags: this.nodeFlags,
    });
    fs.closeSync(log);
    this.proc = proc;
    this.intentional = false;
    this.starts++;
    this.exited = new Promise((resolve) => {
      proc.once('exit', () => {
        resolve();
        if (this.proc !== proc || this.intentional || this.stopped) return;
        this.crashes++;
        setTimeout(() => this.start(), 1000).unref();
      });
    });
  }

  /** kill -9; the caller restarts it. */
  async kill9(): Promise<void> {
    if (!this.alive) return;
    this.intentional = true;
    this.proc!.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, SIGKILL after `graceMs`; not restarted. */
  async stop(graceMs = 45_000): Promise<number | null> {
    this.stopped = true;
    if (!this.alive) return this.proc?.exitCode ?? null;
    this.intentional = true;
    const proc = this.proc!;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    return proc.exitCode;
  }
}
