/**
 * The alerting chain the incident e2e tests and bench:incident stand on, proved with real parts:
 * the suite's Prometheus evaluates an alert rule over the metrics simulator's error rate, sends
 * to a real Alertmanager (hack/alertmanager/up, loopback, clustering off), and Alertmanager POSTs
 * its webhook payload (version 4) to a loopback receiver with the bearer token from its
 * credentials file; when the error rate falls back the resolved notification follows. Whatever
 * the receiver gets without the token is refused and counted: there must be none.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  alertingState,
  loadAlertRules,
  routeAlertsTo,
  startAlertmanager,
  type Alertmanager,
} from "../hack/alerting.js";
import { AlertReceiver, type ReceivedNotification } from "./support/alert-receiver.js";
import { waitFor } from "./support/kube.js";
import { setRevisionBehaviour } from "./support/metrics-simulator.js";

const PROMETHEUS = { url: inject("prometheusUrl"), dir: inject("prometheusDir") };
const SIMULATOR = inject("simulatorAddress");
const SERIES = { namespace: "e2e-alertmanager", release: "checkout", revision: "r1" };
const TOKEN = randomBytes(24).toString("hex");

const receiver = new AlertReceiver(TOKEN);
let alertmanager: Alertmanager;
const undo: (() => Promise<void>)[] = [];

beforeAll(async () => {
  await setRevisionBehaviour(SIMULATOR, { ...SERIES, rps: 50, errorRate: 0 });
  const webhookUrl = await receiver.start();
  alertmanager = await startAlertmanager({ webhookUrl, token: TOKEN, groupBy: ["alertname", "namespace"] });
  undo.push(() => alertmanager.stop());
  undo.push(await routeAlertsTo(PROMETHEUS, alertmanager, "e2e-alertmanager"));
  undo.push(
    await loadAlertRules(PROMETHEUS, "e2e-alertmanager", [
      {
        alert: "CheckoutErrorRateHigh",
        expr:
          `sum by (namespace, release) (rate(http_requests_total{namespace="${SERIES.namespace}",code="500"}[5s]))` +
          ` / sum by (namespace, release) (rate(http_requests_total{namespace="${SERIES.namespace}"}[5s])) > 0.1`,
        labels: { severity: "page", squad: "payments" },
        annotations: { summary: "checkout answers more than 10 % errors" },
      },
    ]),
  );
});

afterAll(async () => {
  for (const step of undo.reverse()) await step().catch(() => undefined);
  await receiver.stop();
});

const context = async () =>
  `unauthorized requests: ${receiver.unauthorized}\n${await alertingState(PROMETHEUS.url, alertmanager)}`;
const withStatus = (status: "firing" | "resolved") => (list: ReceivedNotification[]) =>
  list.find((n) => n.payload.status === status);

describe("Prometheus → Alertmanager → webhook with a bearer token", () => {
  it("notifies the firing group, then its resolution", async () => {
    await setRevisionBehaviour(SIMULATOR, { ...SERIES, errorRate: 0.5 });
    const firing = (await waitFor(
      "Alertmanager to POST the firing group",
      async () => withStatus("firing")(receiver.received),
      (n) => n !== undefined,
      { timeoutMs: 60_000, context },
    ))!;
    const p = firing.payload;
    expect(p.version).toBe("4");
    expect(p.receiver).toBe("webhook");
    expect(p.groupLabels).toEqual({ alertname: "CheckoutErrorRateHigh", namespace: SERIES.namespace });
    expect(p.groupKey).toContain("CheckoutErrorRateHigh");
    expect(p.truncatedAlerts).toBe(0);
    expect(p.externalURL).toBe(alertmanager.url);
    expect(p.alerts).toHaveLength(1);
    const alert = p.alerts[0]!;
    expect(alert.status).toBe("firing");
    expect(alert.labels).toMatchObject({
      alertname: "CheckoutErrorRateHigh",
      namespace: SERIES.namespace,
      release: SERIES.release,
      squad: "payments",
      severity: "page",
    });
    expect(alert.annotations.summary).toContain("10 %");
    expect(alert.endsAt).toBe("0001-01-01T00:00:00Z");
    expect(alert.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    // startsAt is when Prometheus saw the rule hold, before Alertmanager's group_wait (1 s here).
    const startsAt = Date.parse(alert.startsAt);
    expect(startsAt).toBeLessThanOrEqual(firing.at);

    await setRevisionBehaviour(SIMULATOR, { ...SERIES, errorRate: 0 });
    const resolved = (await waitFor(
      "Alertmanager to POST the resolved group",
      async () => withStatus("resolved")(receiver.received),
      (n) => n !== undefined,
      { timeoutMs: 60_000, context },
    ))!;
    expect(resolved.payload.groupKey).toBe(p.groupKey);
    const done = resolved.payload.alerts[0]!;
    expect(done.status).toBe("resolved");
    expect(done.fingerprint).toBe(alert.fingerprint);
    expect(done.startsAt).toBe(alert.startsAt);
    expect(Date.parse(done.endsAt)).toBeGreaterThan(startsAt);
    expect(resolved.at).toBeGreaterThan(firing.at);
    expect(receiver.unauthorized).toBe(0);
  });

  it("keeps the token out of Alertmanager's config: a 0600 credentials file holds it", () => {
    const config = readFileSync(join(alertmanager.dir, "alertmanager.yml"), "utf8");
    expect(config).not.toContain(TOKEN);
    expect(config).toContain("credentials_file:");
    expect(statSync(join(alertmanager.dir, "webhook-token")).mode & 0o777).toBe(0o600);
  });
});
