/**
 * What e2e tests use to talk to the cluster: the operator's own client (so the tests also
 * exercise it), kubectl for what users do by hand, and waits with failure messages that say
 * what was expected and dump the object and the operator's last log lines.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { inject } from "vitest";
import { createKubeClient, type KubeClient } from "../../operator/src/runtime/client.js";
import { loadKubeConfig } from "../../operator/src/runtime/kubeconfig.js";
import type { KubeObject, Resource } from "../../operator/src/runtime/types.js";

const run = promisify(execFile);

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
    kubectl: string;
    prometheusUrl: string;
    /** Where a test registers its own scrape targets (Prometheus file_sd). */
    prometheusTargetsDir: string;
    /** The suite Prometheus's state dir: rules/ and alertmanagers/ (hack/alerting.ts). */
    prometheusDir: string;
    simulatorAddress: string;
  }
}

export function kubeconfigPath(): string {
  return inject("kubeconfig");
}

/** A client for the test cluster, with generous rate limits. */
export function testClient(): KubeClient {
  return createKubeClient(loadKubeConfig({ path: kubeconfigPath() }), { qps: 200, burst: 400 });
}

/** Runs kubectl against the test cluster; resolves with stdout/stderr and the exit code. */
export async function kubectl(
  args: string[],
  options: { input?: string; as?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const full = ["--kubeconfig", kubeconfigPath(), ...(options.as ? ["--as", options.as] : []), ...args];
  try {
    const child = run(inject("kubectl"), full, { maxBuffer: 16 * 1024 * 1024 });
    if (options.input !== undefined) {
      child.child.stdin?.end(options.input);
    }
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What to print on timeout besides the last value seen (e.g. the operator's log tail). */
  context?: () => string | Promise<string>;
}

/**
 * Polls `probe` until `accept` holds for its result; on timeout throws with the description,
 * the last value seen (usually the object) and the extra context.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  options: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (accept(last)) return last;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
  const extra = options.context ? await options.context() : "";
  throw new Error(
    `timed out after ${options.timeoutMs ?? 60_000} ms waiting for ${description}\n` +
      `last value: ${JSON.stringify(last, null, 2)}\n` +
      (lastError ? `last error: ${String(lastError)}\n` : "") +
      (extra ? `---\n${extra}` : ""),
  );
}

/** Waits for an object's condition to reach a status (and reason, if given). */
export async function waitForCondition(
  client: KubeClient,
  res: Resource,
  name: string,
  namespace: string | undefined,
  want: { type: string; status: string; reason?: string },
  options: WaitOptions = {},
): Promise<KubeObject> {
  const found = await waitFor(
    `${res.kind} ${namespace ? namespace + "/" : ""}${name} condition ${want.type}=${want.status}${want.reason ? ` (${want.reason})` : ""}`,
    () => client.get<KubeObject>(res, name, namespace),
    (obj) => {
      const conditions = ((obj?.status as { conditions?: { type: string; status: string; reason: string }[] })
        ?.conditions ?? []) as { type: string; status: string; reason: string }[];
      const c = conditions.find((x) => x.type === want.type);
      return (
        c !== undefined && c.status === want.status && (want.reason === undefined || c.reason === want.reason)
      );
    },
    options,
  );
  return found as KubeObject;
}
