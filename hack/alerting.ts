/**
 * The alerting half of the local environment, for e2e tests and benchmarks: a real Alertmanager
 * (hack/alertmanager/up, on a free loopback port, clustering off) notifying one webhook with a
 * bearer token, and the wiring of a Prometheus started by hack/prometheus/up to it — alert rules
 * in its rules/ dir (loaded on reload, evaluated every second) and the Alertmanager listed in
 * its alertmanagers/ file_sd dir. Each piece returns its own undo, so a test leaves the shared
 * Prometheus as it found it.
 */
import { rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { script } from "./local-env.js";

/** One webhook_config: where notifications are POSTed, with `Authorization: Bearer <token>`. */
export interface Webhook {
  url: string;
  /** Written to a 0600 credentials file, never into the config. */
  token?: string;
}

export interface AlertmanagerOptions {
  /** Where every notification is POSTed (Alertmanager's webhook_config `url`). */
  webhookUrl: string;
  /** Bearer token sent as `Authorization: Bearer <token>` (written to a 0600 credentials file). */
  token?: string;
  /**
   * More webhooks in the same receiver: Alertmanager notifies all of one receiver's
   * integrations at the same flush, concurrently, so one of them can time what the other gets.
   */
  alsoNotify?: Webhook[];
  /**
   * TLS to the webhook (its `http_config.tls_config`): the CA that signed the receiver's
   * certificate, and a client certificate and key for mTLS. Files, as Alertmanager reads them.
   */
  tls?: { caFile: string; certFile?: string; keyFile?: string; serverName?: string };
  /** Labels alerts are grouped by (one notification, one incident per group); default alertname. */
  groupBy?: string[];
  /** Alertmanager durations: before a new group's first notification, and between the next ones. */
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
  log?: (message: string) => void;
}

export interface Alertmanager {
  url: string;
  /** host:port, as Prometheus lists it among its Alertmanagers. */
  address: string;
  dir: string;
  stop(): Promise<void>;
}

/**
 * Starts Alertmanager in a temp dir. Its port is picked free, then bound a moment later: on a
 * busy machine another process can take it in between, so a failed start is retried.
 */
export async function startAlertmanager(o: AlertmanagerOptions): Promise<Alertmanager> {
  const dir = await mkdtemp(join(tmpdir(), "crescendo-alertmanager-"));
  const env: Record<string, string> = {
    CRESCENDO_AM_DIR: dir,
    AM_WEBHOOK_URL: o.webhookUrl,
    AM_GROUP_BY: (o.groupBy ?? ["alertname"]).join(","),
    AM_GROUP_WAIT: o.groupWait ?? "1s",
    AM_GROUP_INTERVAL: o.groupInterval ?? "1s",
    AM_REPEAT_INTERVAL: o.repeatInterval ?? "1h",
    ...(o.token !== undefined ? { AM_WEBHOOK_TOKEN: o.token } : {}),
  };
  // up wipes its state dir, so a config of several webhooks and their tokens live beside it.
  const outside =
    o.alsoNotify?.length || o.tls ? await mkdtemp(join(tmpdir(), "crescendo-alertmanager-config-")) : "";
  if (outside) {
    env.AM_CONFIG = join(outside, "alertmanager.yml");
    writeFileSync(env.AM_CONFIG, multiWebhookConfig(o, outside));
  }
  const stop = async (): Promise<void> => {
    try {
      await script("hack/alertmanager/down", env);
    } finally {
      await rm(dir, { recursive: true, force: true });
      if (outside) await rm(outside, { recursive: true, force: true });
    }
  };
  for (let attempt = 1; ; attempt++) {
    try {
      const url = (await script("hack/alertmanager/up", env)).trim().split("\n").pop()!;
      o.log?.(`Alertmanager at ${url}, notifying ${o.webhookUrl}`);
      return { url, address: new URL(url).host, dir, stop };
    } catch (err) {
      if (attempt >= 3) {
        await stop().catch(() => undefined);
        throw err;
      }
      o.log?.(`Alertmanager did not start (attempt ${attempt}); retrying on another port`);
    }
  }
}

/** The config hack/alertmanager/up generates, with one webhook_config per webhook (TLS for the first). */
function multiWebhookConfig(o: AlertmanagerOptions, dir: string): string {
  const webhooks = [{ url: o.webhookUrl, token: o.token }, ...(o.alsoNotify ?? [])];
  return stringify({
    route: {
      receiver: "webhook",
      group_by: o.groupBy ?? ["alertname"],
      group_wait: o.groupWait ?? "1s",
      group_interval: o.groupInterval ?? "1s",
      repeat_interval: o.repeatInterval ?? "1h",
    },
    receivers: [
      {
        name: "webhook",
        webhook_configs: webhooks.map((w, i) => {
          const tls = i === 0 && o.tls ? { tls_config: tlsConfig(o.tls) } : {};
          if (w.token === undefined) {
            return { url: w.url, send_resolved: true, ...(o.tls && i === 0 ? { http_config: tls } : {}) };
          }
          const credentials_file = join(dir, `webhook-token-${i}`);
          writeFileSync(credentials_file, w.token, { mode: 0o600 });
          return {
            url: w.url,
            send_resolved: true,
            http_config: { authorization: { credentials_file }, ...tls },
          };
        }),
      },
    ],
  });
}

/** Alertmanager's `tls_config` (Prometheus' common HTTP client) for the webhook. */
function tlsConfig(tls: NonNullable<AlertmanagerOptions["tls"]>): Record<string, string> {
  return {
    ca_file: tls.caFile,
    ...(tls.certFile ? { cert_file: tls.certFile } : {}),
    ...(tls.keyFile ? { key_file: tls.keyFile } : {}),
    ...(tls.serverName ? { server_name: tls.serverName } : {}),
  };
}

/**
 * Lists an Alertmanager for a Prometheus started by hack/prometheus/up (file_sd, no reload) and
 * waits until Prometheus reports it active. Returns the undo.
 */
export async function routeAlertsTo(
  prometheus: { url: string; dir: string },
  alertmanager: Alertmanager,
  name = "alertmanager",
): Promise<() => Promise<void>> {
  const file = join(prometheus.dir, "alertmanagers", `${name}.json`);
  writeFileSync(file, JSON.stringify([{ targets: [alertmanager.address] }]));
  await until(`Prometheus to list Alertmanager ${alertmanager.address}`, async () =>
    (await activeAlertmanagers(prometheus.url)).some((u) => u.includes(alertmanager.address)),
  );
  return async () => {
    rmSync(file, { force: true });
    await until(
      `Prometheus to drop Alertmanager ${alertmanager.address}`,
      async () => !(await activeAlertmanagers(prometheus.url)).some((u) => u.includes(alertmanager.address)),
    );
  };
}

async function activeAlertmanagers(prometheusUrl: string): Promise<string[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/alertmanagers`);
  const body = (await res.json()) as { data: { activeAlertmanagers: { url: string }[] } };
  return body.data.activeAlertmanagers.map((a) => a.url);
}

/** A Prometheus alerting rule (rule file syntax). */
export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/**
 * Writes one rule group to the Prometheus's rules/ dir, reloads it and waits until the group
 * is loaded. Returns the undo (file removed, reloaded). `name` is the file and the group.
 */
export async function loadAlertRules(
  prometheus: { url: string; dir: string },
  name: string,
  rules: AlertRule[],
  interval = "1s",
): Promise<() => Promise<void>> {
  const file = join(prometheus.dir, "rules", `${name}.yml`);
  writeFileSync(file, stringify({ groups: [{ name, interval, rules }] }));
  await reload(prometheus.url);
  await until(`Prometheus to load rule group ${name}`, async () =>
    (await ruleGroups(prometheus.url)).includes(name),
  );
  return async () => {
    rmSync(file, { force: true });
    await reload(prometheus.url);
  };
}

async function reload(prometheusUrl: string): Promise<void> {
  const res = await fetch(`${prometheusUrl}/-/reload`, { method: "POST" });
  if (!res.ok) throw new Error(`Prometheus did not reload: ${res.status} ${await res.text()}`);
}

async function ruleGroups(prometheusUrl: string): Promise<string[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/rules?type=alert`);
  const body = (await res.json()) as { data: { groups: { name: string }[] } };
  return body.data.groups.map((g) => g.name);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
  );
}

/**
 * What each hop of the chain holds right now, for a test's timeout message: Prometheus's alerts
 * and the Alertmanagers it sends to (with its notifier counters), and Alertmanager's alerts.
 */
export async function alertingState(prometheusUrl: string, alertmanager?: Alertmanager): Promise<string> {
  const get = async (url: string): Promise<string> => {
    try {
      return await (await fetch(url)).text();
    } catch (err) {
      return `(${url}: ${String(err)})`;
    }
  };
  const notifier = (await get(`${prometheusUrl}/metrics`))
    .split("\n")
    .filter((l) => /^prometheus_notifications_(sent|dropped|errors)_total/.test(l))
    .join("\n");
  return [
    `Prometheus alerts: ${await get(`${prometheusUrl}/api/v1/alerts`)}`,
    `Prometheus alertmanagers: ${await get(`${prometheusUrl}/api/v1/alertmanagers`)}`,
    `Prometheus notifier:\n${notifier}`,
    ...(alertmanager ? [`Alertmanager alerts: ${await get(`${alertmanager.url}/api/v2/alerts`)}`] : []),
  ].join("\n");
}
