/**
 * The operator under test: its real entry point in a child process (as `npm start` runs it),
 * its /metrics scraped every 15 s, and its RSS sampled every second so the peak is not missed.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { ROOT, cpuSeconds, rssBytes } from "./cluster.js";
import { parseMetrics, type Scrape } from "./prom.js";
import { freePort, operatorArgs } from "../local-env.js";

/** The NODE_OPTIONS the image sets (its Dockerfile's ENV), so the benchmark runs what ships. */
export function imageNodeOptions(dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8")): string {
  return /^ENV .*\bNODE_OPTIONS=("[^"]*"|\S+)/m.exec(dockerfile)?.[1]?.replace(/^"|"$/g, "") ?? "";
}

export interface OperatorOptions {
  kubeconfig: string;
  args: string[];
  logFile: string;
  /** The compiled entry point (from `buildOperator`); absent runs the source through tsx. */
  entry?: string;
  /** NODE_OPTIONS for the operator (e.g. V8 heap flags a deployment would set). */
  nodeOptions?: string;
  /** The node binary (default: the one running the benchmark), e.g. another Node major. */
  node?: string;
  /** A command the operator runs under, e.g. `["taskset", "-c", "0"]` to pin it to a core. */
  wrapper?: string[];
  /** More environment, e.g. OFREP_TOKEN. */
  env?: Record<string, string>;
}

/**
 * Compiles the operator as `npm run build` does (tsconfig.build.json) from `source` into
 * `outDir` (default `.tmp/bench-build`; one of its own per benchmark that may run beside another),
 * inside the repository so the output resolves node_modules. The image runs compiled
 * JavaScript; tsx's loader alone adds ~35 MB RSS, which is not the operator's.
 * tsc emits even when another part of the tree does not type-check; only a missing output fails.
 */
export async function buildOperator(outDir = join(ROOT, ".tmp/bench-build"), source = ROOT): Promise<string> {
  rmSync(outDir, { recursive: true, force: true });
  const code = await new Promise<number | null>((resolve) => {
    const tsc = spawn(
      process.execPath,
      [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", outDir],
      { cwd: source, stdio: "ignore" },
    );
    tsc.once("exit", resolve);
  });
  const entry = join(outDir, "operator/src/main.js");
  if (!existsSync(entry))
    throw new Error(`tsc -p tsconfig.build.json exited ${String(code)} without ${entry}`);
  return entry;
}

/**
 * The operator as it was at a git revision (e.g. `main`, to measure a change against), compiled
 * like `buildOperator`: its sources exported with `git archive` into `.tmp`, beside the working
 * tree's node_modules, and compiled into `.tmp/bench-build-<commit>`.
 */
export async function buildOperatorAt(ref: string): Promise<{ entry: string; commit: string }> {
  const git = (args: string[]) =>
    new Promise<Buffer>((resolve, reject) =>
      execFile("git", args, { cwd: ROOT, encoding: "buffer", maxBuffer: 256 << 20 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
  const commit = (await git(["rev-parse", "--short", `${ref}^{commit}`])).toString().trim();
  const source = join(ROOT, ".tmp", `bench-src-${commit}`);
  rmSync(source, { recursive: true, force: true });
  mkdirSync(source, { recursive: true });
  const archive = join(source, "src.tar");
  writeFileSync(
    archive,
    await git(["archive", commit, "operator", "tsconfig.json", "tsconfig.build.json", "package.json"]),
  );
  await new Promise<void>((resolve, reject) =>
    execFile("tar", ["-xf", archive, "-C", source], (err) => (err ? reject(err) : resolve())),
  );
  symlinkSync(join(ROOT, "node_modules"), join(source, "node_modules"));
  const entry = await buildOperator(join(ROOT, ".tmp", `bench-build-${commit}`), source);
  return { entry, commit };
}

/** Every how many 1 s samples /metrics is scraped for the heap: 15 s, a common scrape interval. */
const SCRAPE_EVERY_SAMPLES = 15;

/** One memory sample: RSS from /proc (exact, even when the event loop is busy), heap from /metrics. */
export interface MemorySample {
  at: number;
  rss: number;
  heapUsed?: number;
}

export class Operator {
  readonly samples: MemorySample[] = [];
  private sampler: NodeJS.Timeout | undefined;
  private readonly exited: Promise<number | null>;
  /** True while a sampler scrape is in flight, so a tick that overlaps a slow scrape skips it. */
  private scraping = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly healthPort: number,
    readonly startedAt: number,
    readonly ofrepPort: number,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  /**
   * Spawns the operator (compiled, or `node --import tsx operator/src/main.ts`) with its output
   * in `logFile`. The child is in its own process group so a Ctrl-C reaches only the
   * benchmark, which then stops it cleanly.
   */
  static async start(o: OperatorOptions): Promise<Operator> {
    const [healthPort, ofrepPort] = [await freePort(), await freePort()];
    mkdirSync(join(o.logFile, ".."), { recursive: true });
    const fd = openSync(o.logFile, "a");
    // The wrapper (taskset) execs node, so the child's pid is the operator's.
    const command = [
      ...(o.wrapper ?? []),
      o.node ?? process.execPath,
      ...operatorArgs({ healthPort, ofrepPort, entry: o.entry, args: o.args }),
    ];
    const child = spawn(command[0]!, command.slice(1), {
      cwd: ROOT,
      env: {
        ...process.env,
        ...o.env,
        KUBECONFIG: o.kubeconfig,
        LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
        // SIGUSR2 writes a heap snapshot (it does nothing until then): `liveHeapBytes`.
        NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 ${o.nodeOptions ?? ""}`.trim(),
      },
      stdio: ["ignore", fd, fd],
      detached: true,
    });
    closeSync(fd);
    const op = new Operator(child, healthPort, Date.now(), ofrepPort);
    op.sampler = setInterval(() => void op.sample(), 1000);
    return op;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private async sample(): Promise<void> {
    const rss = rssBytes(this.pid);
    if (rss === undefined) return;
    const sample: MemorySample = { at: Date.now(), rss };
    this.samples.push(sample);
    // RSS every second (free: /proc), /metrics as Prometheus would scrape it. Scraping the
    // thousands of series every second made the operator allocate what no cluster would, and
    // kept V8 from seeing it idle, so it never gave back the heap it grew (settled RSS at
    // N=1,000: 212 MB scraped every second against ~130 MB without).
    if (this.scraping || this.samples.length % SCRAPE_EVERY_SAMPLES !== 1) return;
    this.scraping = true;
    try {
      sample.heapUsed = (await this.scrape()).value("nodejs_heap_size_used_bytes");
    } catch {
      // not listening yet, or busy: the RSS sample still counts
    } finally {
      this.scraping = false;
    }
  }

  /** Polls /readyz until 200 (caches synced); fails if the process exits first. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`operator exited with ${String(this.child.exitCode)}`);
      try {
        if ((await fetch(`http://127.0.0.1:${this.healthPort}/readyz`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`operator not ready after ${timeoutMs} ms`);
  }

  async scrape(): Promise<Scrape> {
    const res = await fetch(`http://127.0.0.1:${this.healthPort}/metrics`, {
      signal: AbortSignal.timeout(10_000),
    });
    return parseMetrics(await res.text());
  }

  /**
   * User + system CPU seconds since the process started, from /proc. prom-client's
   * process_cpu_seconds_total counts only from when the metrics module was loaded, so it misses
   * startup (module loading and compilation), which a cold start includes.
   */
  cpuSeconds(): number {
    return cpuSeconds(this.pid) ?? 0;
  }

  /** Samples in [from, to]. */
  window(from: number, to = Date.now()): MemorySample[] {
    return this.samples.filter((s) => s.at >= from && s.at <= to);
  }

  /**
   * The live heap: a heap snapshot forces a full GC first, so heapUsed right after it is the
   * memory actually retained (between GCs heapUsed also counts garbage). The snapshot file is
   * deleted; RSS after it means nothing (writing it allocates), so call this last.
   */
  async liveHeapBytes(timeoutMs = 120_000): Promise<number | undefined> {
    const mine = (f: string): boolean => f.startsWith("Heap.") && f.includes(`.${this.pid}.`);
    this.child.kill("SIGUSR2");
    const deadline = Date.now() + timeoutMs;
    let file: string | undefined;
    let size = -1;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      file ??= readdirSync(ROOT).find(mine);
      if (!file) continue;
      const now = statSync(join(ROOT, file)).size;
      if (now === size) break; // written completely
      size = now;
    }
    try {
      return (await this.scrape()).value("nodejs_heap_size_used_bytes");
    } finally {
      if (file) rmSync(join(ROOT, file), { force: true });
    }
  }

  /** SIGTERM (graceful: finish in-flight reconciles, release the Lease), SIGKILL after `graceMs`. */
  async stop(graceMs = 40_000): Promise<void> {
    clearInterval(this.sampler);
    if (!this.alive) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
