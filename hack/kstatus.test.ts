/**
 * kstatus compatibility: what sigs.k8s.io/cli-utils' `status.Compute` (the library Flux's health
 * checks, kpt and cli-utils' appliers use) makes of the conditions Crescendo's controllers write,
 * for every state in hack/kstatus/samples.ts. A tiny Go program (hack/kstatus, its own module)
 * reads the objects as JSON on stdin and prints the results; it is built once per source hash
 * into `${CRESCENDO_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/crescendo}/bin/kstatus-<hash>`, with
 * the installed Go (GOTOOLCHAIN=local) and modules from the Go module proxy pinned by go.sum.
 * Skipped with a message when `go` is not installed.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { samples, type Sample } from "./kstatus/samples.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const MODULE = join(ROOT, "hack/kstatus");
const SOURCES = ["go.mod", "go.sum", "main.go"];
const BUILD_TIMEOUT_MS = 570_000;

interface KStatus {
  status?: string;
  message?: string;
  error?: string;
}

const goVersion = (() => {
  const result = spawnSync("go", ["version"], { encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : undefined;
})();

/** The build environment: the installed toolchain only, modules as go.sum pins them, no workspace. */
function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=readonly -buildvcs=false", GOWORK: "off" };
}

/** The cached binary for these sources and this Go, named by their hash. */
function binaryPath(): string {
  const hash = createHash("sha256").update(goVersion ?? "");
  for (const file of SOURCES) hash.update(file).update(readFileSync(join(MODULE, file)));
  const cache =
    process.env.CRESCENDO_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "crescendo");
  return join(cache, "bin", `kstatus-${hash.digest("hex").slice(0, 16)}`);
}

/** Builds the program unless this exact build is cached; renames into place so builds never race. */
async function ensureBinary(): Promise<string> {
  const bin = binaryPath();
  if (existsSync(bin)) return bin;
  mkdirSync(join(bin, ".."), { recursive: true });
  const tmp = `${bin}.tmp-${process.pid}`;
  try {
    await run("go", ["build", "-trimpath", "-o", tmp, "."], {
      cwd: MODULE,
      env: goEnv(),
      timeout: BUILD_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    renameSync(tmp, bin);
  } finally {
    rmSync(tmp, { force: true });
  }
  return bin;
}

/** Runs the program on the objects (a JSON array on stdin) and returns one result per object. */
function compute(bin: string, objects: unknown[]): Promise<KStatus[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`${bin} exited ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout) as KStatus[]);
    });
    child.stdin.end(JSON.stringify(objects));
  });
}

if (!goVersion) {
  console.warn("[kstatus.test] go not found: install Go to check kstatus compatibility (hack/kstatus)");
  it.skip("kstatus compatibility: go not found", () => {});
} else {
  describe("kstatus (sigs.k8s.io/cli-utils status.Compute)", () => {
    let results = new Map<Sample, KStatus>();

    beforeAll(async () => {
      const bin = await ensureBinary();
      const out = await compute(
        bin,
        samples.map((s) => s.object),
      );
      expect(out).toHaveLength(samples.length);
      results = new Map(samples.map((s, i) => [s, out[i]!]));
    }, BUILD_TIMEOUT_MS + 30_000);

    describe.each(["Release", "Squad", "FeatureToggle"] as const)("a %s", (kind) => {
      it.each(samples.filter((s) => s.kind === kind).map((s) => [s.name, s] as const))(
        "%s",
        (_name, sample) => {
          const result = results.get(sample);
          expect(result?.error).toBeUndefined();
          expect(result?.status).toBe(sample.kstatus.status);
          if (sample.kstatus.message !== undefined) {
            const expected = sample.kstatus.message;
            if (typeof expected === "string") expect(result?.message).toBe(expected);
            else expect(result?.message).toMatch(expected);
          }
        },
      );
    });

    it("reads Ready as Current, Reconciling as InProgress, Stalled as Failed on every kind", () => {
      const byCondition = (type: string, status: string) =>
        samples.filter((s) => {
          const st = s.object.status as { conditions?: { type: string; status: string }[] } | undefined;
          const stale =
            (s.object.metadata.generation as number) !==
            (s.object.status as { observedGeneration?: number } | undefined)?.observedGeneration;
          return !stale && st?.conditions?.some((c) => c.type === type && c.status === status);
        });
      const ready = byCondition("Ready", "True");
      const reconciling = byCondition("Reconciling", "True");
      const stalled = byCondition("Stalled", "True");
      for (const kind of ["Release", "Squad", "FeatureToggle"]) {
        expect(ready.some((s) => s.kind === kind)).toBe(true);
        expect(stalled.some((s) => s.kind === kind)).toBe(true);
      }
      expect(reconciling.map((s) => s.kind)).toEqual(expect.arrayContaining(["Release", "Squad"]));
      for (const s of ready) expect(results.get(s)?.status, s.name).toBe("Current");
      for (const s of reconciling) expect(results.get(s)?.status, s.name).toBe("InProgress");
      for (const s of stalled) expect(results.get(s)?.status, s.name).toBe("Failed");
    });

    it("reads an object whose observedGeneration lags its generation as InProgress, whatever it says", () => {
      const lagging = samples.filter(
        (s) =>
          (s.object.status as { observedGeneration?: number } | undefined)?.observedGeneration !==
            undefined &&
          (s.object.status as { observedGeneration: number }).observedGeneration <
            (s.object.metadata.generation as number),
      );
      expect(new Set(lagging.map((s) => s.kind))).toEqual(new Set(["Release", "Squad", "FeatureToggle"]));
      for (const s of lagging) {
        expect(results.get(s)?.status, s.name).toBe("InProgress");
        expect(results.get(s)?.message, s.name).toMatch(
          /generation is \d+, but latest observed generation is \d+/,
        );
      }
    });
  });
}
