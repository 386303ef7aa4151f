/**
 * The incident receiver over mutual TLS, with the real Alertmanager: the operator from its entry
 * point serves POST /alertmanager with a serving certificate and a client CA (no token), and
 * Alertmanager, configured with `http_config.tls_config` (the CA, its client certificate and key),
 * delivers an alert that becomes an incident on the Squad. A client without a certificate fails
 * the handshake and a plain-HTTP request gets no answer: neither changes anything. Then the
 * other mode: the bearer token over TLS (no client certificate), delivered too. Certificates
 * come from the openssl CLI (hack/test-pki.ts), as the local control plane's do.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAlertmanager, type Alertmanager } from "../hack/alerting.js";
import { createTestPki, type IssuedCertificate, type TestPki } from "../hack/test-pki.js";
import type { IncidentRecord } from "../operator/src/api/incident.js";
import { SquadResource } from "../operator/src/api/kinds.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { applyIncidentSquads } from "./support/incident-receiver.js";
import { kubeconfigPath, testClient, waitFor } from "./support/kube.js";
import { freePort, OperatorProcess } from "./support/operator.js";

const FIELD_MANAGER = "e2e-alertmanager-tls";
const SQUAD = { squad: "amtls", ns: "amtls" };
const POLICY = { correlationWindow: "30m", actions: [{ match: { labels: {} }, do: "Notify" }] };

type SquadObject = KubeObject & { status?: { incidents?: IncidentRecord[] } };

let dir: string;
let pki: TestPki;
let serving: IssuedCertificate;
let alertmanagerCert: IssuedCertificate;
let client: KubeClient;
let operator: OperatorProcess;
let alertmanager: Alertmanager | undefined;
let url: string;

const incidents = async () =>
  (await client.get<SquadObject>(SquadResource, SQUAD.squad))?.status?.incidents ?? [];
const context = async () =>
  `${operator.tail(40)}\n${alertmanager ? readFileSync(join(alertmanager.dir, "alertmanager.log"), "utf8").slice(-3000) : ""}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "crescendo-alertmanager-tls-"));
  pki = createTestPki(dir, "incidents");
  serving = pki.issue("receiver", {
    cn: "crescendo",
    usage: "serverAuth",
    san: "IP:127.0.0.1,DNS:localhost",
  });
  alertmanagerCert = pki.issue("alertmanager", { cn: "alertmanager", usage: "clientAuth" });
  const port = await freePort();
  url = `https://127.0.0.1:${port}/alertmanager`;
  client = testClient();
  operator = await OperatorProcess.start({
    kubeconfig: kubeconfigPath(),
    name: "alertmanager-tls",
    args: [
      ...["--incident-port", String(port)],
      ...["--incident-tls-cert-file", serving.cert, "--incident-tls-key-file", serving.key],
      ...["--incident-client-ca-file", pki.caCert, "--incident-client-names", "alertmanager"],
    ],
  });
  await applyIncidentSquads(client, [SQUAD], POLICY, FIELD_MANAGER, () => operator.tail(40));
  alertmanager = await startAlertmanager({
    webhookUrl: url,
    tls: { caFile: pki.caCert, certFile: alertmanagerCert.cert, keyFile: alertmanagerCert.key },
    groupBy: ["alertname", "namespace"],
  });
}, 240_000);

afterAll(async () => {
  await alertmanager?.stop().catch(() => undefined);
  await operator?.stop();
  await client?.delete(SquadResource, SQUAD.squad).catch(() => undefined);
  client?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Sends an alert to Alertmanager's API, as Prometheus would. */
async function fire(alertname: string): Promise<void> {
  const res = await fetch(`${alertmanager!.url}/api/v2/alerts`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify([
      { labels: { alertname, namespace: SQUAD.ns, severity: "page" }, startsAt: new Date().toISOString() },
    ]),
  });
  expect(res.status, await res.text()).toBe(200);
}

/** A POST to the receiver as a stranger: `https` without a client certificate, or plain `http`. */
function strangerPost(scheme: "https" | "http"): Promise<number> {
  const target = new URL(url);
  const body = JSON.stringify({ version: "4", groupKey: "stranger", status: "firing", alerts: [] });
  return new Promise((resolve, reject) => {
    const options = {
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: "POST",
      agent: false as const,
      headers: { "Content-Type": "application/json" },
    };
    const req =
      scheme === "https"
        ? request({ ...options, ca: readFileSync(pki.caCert) }, (res) => resolve(res.statusCode ?? 0))
        : httpRequest(options, (res) => resolve(res.statusCode ?? 0));
    req.on("error", reject);
    req.end(body);
  });
}

describe("Alertmanager → the incident receiver over mTLS", () => {
  it("delivers an alert with its client certificate, and the incident is recorded", async () => {
    await fire("TlsDelivered");
    const incident = await waitFor(
      "the incident of TlsDelivered on the Squad",
      incidents,
      (list) => list.some((i) => i.alerts.some((a) => a.startsWith("TlsDelivered"))),
      { timeoutMs: 60_000, context },
    );
    expect(incident.find((i) => i.alerts.some((a) => a.startsWith("TlsDelivered")))?.groupKey).toContain(
      "TlsDelivered",
    );
    expect(operator.tail(200)).not.toContain("TLS handshake refused");
  });

  it("refuses a client without a certificate at the handshake, and plain HTTP, changing nothing", async () => {
    const before = JSON.stringify(await incidents());
    await expect(strangerPost("https")).rejects.toThrow();
    await expect(strangerPost("http")).rejects.toThrow();
    // Refused before any request was read: the operator says why, and no incident appeared.
    await waitFor(
      "the refused handshake in the operator's log",
      async () => operator.tail(200),
      (t) => t.includes("TLS handshake refused"),
    );
    expect(JSON.stringify(await incidents())).toBe(before);
  });

  it("keeps every secret out of Alertmanager's configuration: it names the files", () => {
    const config = readFileSync(join(alertmanager!.dir, "alertmanager.yml"), "utf8");
    expect(config).toContain(`cert_file: ${alertmanagerCert.cert}`);
    expect(config).toContain(`key_file: ${alertmanagerCert.key}`);
    expect(config).not.toContain("PRIVATE KEY");
  });
});

describe("Alertmanager → the incident receiver, the bearer token over TLS", () => {
  it("delivers with the token and the CA only (no client certificate), and the incident is recorded", async () => {
    // The mTLS operator and its Alertmanager make way: one leader at a time.
    await alertmanager?.stop();
    alertmanager = undefined;
    await operator.stop();
    const token = randomBytes(24).toString("hex");
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const port = await freePort();
    url = `https://127.0.0.1:${port}/alertmanager`;
    operator = await OperatorProcess.start({
      kubeconfig: kubeconfigPath(),
      name: "alertmanager-tls-token",
      args: [
        ...["--incident-port", String(port), "--incident-token-file", tokenFile],
        ...["--incident-tls-cert-file", serving.cert, "--incident-tls-key-file", serving.key],
      ],
    });
    alertmanager = await startAlertmanager({
      webhookUrl: url,
      token,
      tls: { caFile: pki.caCert },
      groupBy: ["alertname", "namespace"],
    });
    await fire("TlsTokenDelivered");
    await waitFor(
      "the incident of TlsTokenDelivered on the Squad",
      incidents,
      (list) => list.some((i) => i.alerts.some((a) => a.startsWith("TlsTokenDelivered"))),
      { timeoutMs: 90_000, context },
    );
    // Over TLS the token still decides: a request without it is 401 (no client certificate asked).
    expect(await strangerPost("https")).toBe(401);
    const config = readFileSync(join(alertmanager.dir, "alertmanager.yml"), "utf8");
    expect(config).not.toContain(token);
  });
});
