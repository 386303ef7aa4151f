/**
 * Runs the operator from its real entry point (operator/src/main.ts) as a child process, the
 * way it runs in a pod, so e2e tests exercise configuration, leader election and shutdown too.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { freePort, operatorArgs } from "../../hack/local-env.js";

export { freePort };

const ROOT = join(import.meta.dirname, "../..");

export interface OperatorOptions {
  kubeconfig: string;
  /** Extra environment, e.g. LOG_LEVEL. */
  env?: Record<string, string>;
  /** Extra command-line flags. */
  args?: string[];
  /** Name used for the log file under .tmp/e2e-logs. */
  name?: string;
  /**
   * Prometheus addresses the operator may query (`--allowed-prometheus-addresses`) besides, in
   * the e2e suite, the suite's own Prometheus: any other address a Release names is refused, as
   * in a real installation.
   */
  allowPrometheus?: string[];
  /** Whether `start` waits for /readyz (default true); false to watch it start. */
  waitReady?: boolean;
}

export class OperatorProcess {
  private readonly lines: string[] = [];
  private exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly healthPort: number,
    readonly ofrepPort: number,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    const log = createWriteStream(logFile, { flags: "a" });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        this.lines.push(line);
        if (this.lines.length > 400) this.lines.shift();
        log.write(line + "\n");
      });
    }
  }

  /** Starts the operator and (unless `waitReady: false`) waits until /readyz says its caches are synced. */
  static async start(options: OperatorOptions): Promise<OperatorProcess> {
    const [healthPort, ofrepPort] = [await freePort(), await freePort()];
    const logDir = join(ROOT, ".tmp/e2e-logs");
    mkdirSync(logDir, { recursive: true });
    const logFile = join(logDir, `${options.name ?? "operator"}-${Date.now()}.log`);
    // Inside the e2e suite, its own Prometheus; the demo, outside vitest, passes its own.
    const suite = process.env["VITEST"] ? [(await import("vitest")).inject("prometheusUrl")] : [];
    const allowed = [...suite, ...(options.allowPrometheus ?? [])];
    const args = [
      ...(allowed.length > 0 ? ["--allowed-prometheus-addresses", allowed.join(",")] : []),
      ...(options.args ?? []),
    ];
    const child = spawn(process.execPath, operatorArgs({ healthPort, ofrepPort, args }), {
      cwd: ROOT,
      env: { ...process.env, KUBECONFIG: options.kubeconfig, LOG_LEVEL: "debug", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const operator = new OperatorProcess(child, healthPort, ofrepPort, logFile);
    if (options.waitReady !== false) await operator.waitReady();
    return operator;
  }

  /** Polls /readyz until 200, failing fast with the operator's last log lines if it exits. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exitCode: number | null | undefined;
    void this.exited.then((code) => (exitCode = code));
    while (Date.now() < deadline) {
      if (exitCode !== undefined) throw new Error(`operator exited with ${exitCode}:\n${this.tail()}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.healthPort}/readyz`);
        if (res.status === 200) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`operator not ready after ${timeoutMs} ms:\n${this.tail()}`);
  }

  /** The operator's own /metrics text. */
  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.healthPort}/metrics`)).text();
  }

  /** Whether the process is still running. */
  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Last log lines, for failure messages. */
  tail(n = 40): string {
    return this.lines.slice(-n).join("\n");
  }

  /** Sends a signal and waits for the process to exit; SIGKILL simulates a crash. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 40_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A series' value in the operator's /metrics text: the first line of `name` carrying `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.lastIndexOf("}"));
    const found = Object.fromEntries([...labelText.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v))
      return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}
