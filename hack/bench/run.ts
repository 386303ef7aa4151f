/**
 * What every benchmark script needs around its measurements: cleanup in reverse order (also
 * on Ctrl-C or a failure), waiting with progress lines, and the summary statistics they print.
 */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const round = (x: number, digits = 1): number => Number(x.toFixed(digits));
export const elapsed = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/** Stops what a run started, in reverse order. */
export class Cleanups {
  private readonly steps: (() => Promise<void>)[] = [];
  push(step: () => Promise<void>): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step();
      } catch (err) {
        console.error(`cleanup step failed: ${String(err)}`);
      }
    }
  }
}

/**
 * The process-wide cleanups, run on SIGINT/SIGTERM (a second signal exits at once). `interrupted()`
 * tells a loop of runs to stop starting new ones.
 */
export function onInterrupt(cleanups: Cleanups): { interrupted: () => boolean } {
  let interrupted = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      console.error(`\n${signal}: stopping what the benchmark started (again to exit at once)`);
      void cleanups.run().finally(() => process.exit(130));
    });
  }
  return { interrupted: () => interrupted };
}

/**
 * Waits until `done()` with a progress line every 5 s; throws after `timeoutMs`, or as soon as
 * `alive()` says the process under test is gone.
 */
export async function until(
  what: string,
  done: () => boolean | Promise<boolean>,
  describe: () => string | Promise<string>,
  timeoutMs: number,
  alive: () => boolean = () => true,
): Promise<void> {
  const started = Date.now();
  let lastLog = started;
  for (;;) {
    if (await done()) return;
    if (!alive()) throw new Error(`the process under test exited during ${what}; see its log`);
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${elapsed(started)}: ${what}; ${await describe()}`);
    if (Date.now() - lastLog >= 5000) {
      lastLog = Date.now();
      console.log(`  … ${what}: ${elapsed(started)}, ${await describe()}`);
    }
    await sleep(250);
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2;
};

/** The q-quantile by nearest rank (an observed value, never an interpolation). */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export interface Spread {
  min: number;
  p50: number;
  p95: number;
  max: number;
}

/** min / p50 / p95 / max, rounded to whole units. */
export function spread(xs: number[]): Spread {
  return {
    min: Math.round(quantile(xs, 0)),
    p50: Math.round(median(xs)),
    p95: Math.round(quantile(xs, 0.95)),
    max: Math.round(quantile(xs, 1)),
  };
}
