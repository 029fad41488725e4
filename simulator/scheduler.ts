/**
 * Every timer the simulator sets goes through here, so close() can cancel them all: a test
 * process must be able to exit right after it stops its simulator, with calls still ringing.
 */
export class Scheduler {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();
  private readonly controller = new AbortController();

  constructor(private readonly onError: (err: unknown) => void) {}

  /** Aborted on close(): outgoing webhook requests listen to it. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get closed(): boolean {
    return this.controller.signal.aborted;
  }

  /** Runs fn after ms; errors (also async ones) go to onError instead of crashing the process. */
  after(ms: number, fn: () => unknown): NodeJS.Timeout | undefined {
    if (this.closed) return undefined;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        if (this.closed) return;
        try {
          Promise.resolve(fn()).catch(this.onError);
        } catch (err) {
          this.onError(err);
        }
      },
      Math.max(0, ms),
    );
    this.timers.add(timer);
    return timer;
  }

  cancel(timer: NodeJS.Timeout | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  /** Resolves after ms, or at once when the scheduler closes. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const wake = () => {
        this.sleepers.delete(wake);
        resolve();
      };
      this.sleepers.add(wake);
      this.after(ms, wake);
    });
  }

  close(): void {
    this.controller.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of [...this.sleepers]) wake();
  }
}
