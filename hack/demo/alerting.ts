/**
 * The demo's alert chain, with the real parts the e2e tests use: the operator serves its
 * Alertmanager receiver (`--incident-port`, a bearer token read from a 0600 file), a real
 * Alertmanager (hack/alertmanager/up, Debian's prometheus-alertmanager) POSTs to it with that
 * token, and the demo's Prometheus evaluates the alert rule and sends to that Alertmanager.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAlertRules, routeAlertsTo, startAlertmanager, type AlertRule } from "../alerting.js";
import { freePort } from "../local-env.js";

export interface DemoAlerting {
  /** The operator's flags for its receiver: pass them when starting it, before `start`. */
  operatorArgs: string[];
  /** Starts Alertmanager notifying the operator's receiver and lists it in Prometheus. */
  start(): Promise<void>;
  /** Loads an alert rule group into Prometheus (rules evaluated every second). */
  loadRules(name: string, rules: AlertRule[]): Promise<void>;
  /**
   * Alertmanager stopped, the token removed. The rules and the route live in the Prometheus
   * state dir, which goes with that Prometheus.
   */
  stop(): Promise<void>;
}

export async function demoAlerting(
  prometheus: { url: string; dir: string },
  log: (message: string) => void,
): Promise<DemoAlerting> {
  const dir = await mkdtemp(join(tmpdir(), "crescendo-demo-receiver-"));
  const token = randomBytes(24).toString("hex");
  const tokenFile = join(dir, "token");
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const port = await freePort();
  let stopAlertmanager: (() => Promise<void>) | undefined;
  return {
    operatorArgs: ["--incident-port", String(port), "--incident-token-file", tokenFile],
    async start() {
      const alertmanager = await startAlertmanager({
        webhookUrl: `http://127.0.0.1:${port}/alertmanager`,
        token,
        groupBy: ["alertname", "namespace"],
        log,
      });
      stopAlertmanager = () => alertmanager.stop();
      await routeAlertsTo(prometheus, alertmanager, "demo");
    },
    async loadRules(name, rules) {
      await loadAlertRules(prometheus, name, rules);
    },
    async stop() {
      await stopAlertmanager?.().catch((err: unknown) => log(`Alertmanager did not stop: ${String(err)}`));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
