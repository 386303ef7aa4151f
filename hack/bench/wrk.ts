/**
 * Debian's `wrk` as the load generator, one thread pinned to one core, POSTing OFREP requests
 * through hack/bench/ofrep/wrk.lua, which prints the figures as one JSON line.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./cluster.js";

const run = promisify(execFile);

export interface WrkResult {
  requests: number;
  durationUs: number;
  bytes: number;
  connectErrors: number;
  readErrors: number;
  writeErrors: number;
  /** Answers that were not 2xx/3xx. */
  statusErrors: number;
  timeouts: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  meanUs: number;
}

export interface WrkOptions {
  /** `http://host:port`; the paths come from `paths`. */
  baseUrl: string;
  /** Request paths to cycle through. */
  paths: string[];
  token?: string;
  connections: number;
  seconds: number;
  /** The CPU core wrk runs on (taskset -c); undefined: not pinned. */
  core?: number;
  /** wrk threads (default 1); with `addresses`, thread i loads address i. */
  threads?: number;
  /** `host:port` of each server when several share the load (replicas); default `baseUrl`'s. */
  addresses?: string[];
  /** Scratch directory for the paths file. */
  tmpDir: string;
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const pathsFile = join(o.tmpDir, `wrk-paths-${process.pid}.txt`);
  writeFileSync(pathsFile, o.paths.join("\n") + "\n");
  const args = [
    ...(o.core === undefined ? [] : ["taskset", "-c", String(o.core)]),
    "wrk",
    `-t${o.threads ?? 1}`,
    `-c${o.connections}`,
    `-d${o.seconds}s`,
    "--timeout",
    "5s",
    "-s",
    join(ROOT, "hack/bench/ofrep/wrk.lua"),
    o.baseUrl,
  ];
  const { stdout } = await run(args[0]!, args.slice(1), {
    env: {
      ...process.env,
      OFREP_PATHS: pathsFile,
      OFREP_TOKEN: o.token ?? "",
      OFREP_ADDRS: (o.addresses ?? []).join(","),
    },
    maxBuffer: 16 << 20,
    timeout: (o.seconds + 60) * 1000,
  });
  const line = stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk printed no result:\n${stdout}`);
  return JSON.parse(line.slice("WRK_JSON ".length)) as WrkResult;
}
