import { describe, expect, it } from "vitest";
import { alertsOf, MAX_ALERTS, parseWebhookMessage } from "./alertmanager.js";

/** A notification as Alertmanager 0.2x's webhook integration sends it (version 4). */
const sample = {
  receiver: "crescendo",
  status: "firing",
  alerts: [
    {
      status: "firing",
      labels: {
        alertname: "HighErrorRate",
        namespace: "shop",
        crescendo_release: "web",
        severity: "critical",
      },
      annotations: { summary: "5xx above 5%" },
      startsAt: "2030-01-01T03:00:00.000Z",
      endsAt: "0001-01-01T00:00:00Z",
      generatorURL: "http://prometheus/graph?g0.expr=...",
      fingerprint: "c0ffee0123456789",
    },
  ],
  groupLabels: { alertname: "HighErrorRate" },
  commonLabels: { alertname: "HighErrorRate" },
  commonAnnotations: {},
  externalURL: "http://alertmanager:9093",
  version: "4",
  groupKey: '{}/{severity="critical"}:{alertname="HighErrorRate"}',
  truncatedAlerts: 0,
};

describe("parseWebhookMessage", () => {
  it("reads Alertmanager's version 4 message, ignoring what it does not need", () => {
    const parsed = parseWebhookMessage(sample);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(alertsOf(parsed.message)).toEqual([
      {
        status: "firing",
        labels: sample.alerts[0]!.labels,
        startsAt: "2030-01-01T03:00:00.000Z",
        endsAt: "0001-01-01T00:00:00Z",
        fingerprint: "c0ffee0123456789",
      },
    ]);
  });

  it("refuses another version, no alerts, too many, and a startsAt that is not a time", () => {
    const why = (body: unknown) => {
      const p = parseWebhookMessage(body);
      return p.ok ? "ok" : p.why;
    };
    expect(why({ ...sample, version: "3" })).toMatch(
      /^not an Alertmanager webhook message \(version 4\): version/,
    );
    expect(why({ ...sample, alerts: [] })).toMatch(/alerts/);
    expect(why({ ...sample, alerts: Array(MAX_ALERTS + 1).fill(sample.alerts[0]) })).toMatch(/alerts/);
    expect(why({ ...sample, alerts: [{ ...sample.alerts[0], startsAt: "yesterday" }] })).toBe(
      "not an Alertmanager webhook message (version 4): alerts.0.startsAt: must be an RFC 3339 time such as 2030-01-01T03:00:00Z",
    );
    expect(why("a string")).toMatch(/body/);
    expect(why(null)).toMatch(/body/);
  });

  it("takes only RFC 3339 times, as Alertmanager sends them and the apiserver stores them", () => {
    const at = (startsAt: string, endsAt?: string) =>
      parseWebhookMessage({
        ...sample,
        alerts: [{ ...sample.alerts[0], startsAt, ...(endsAt !== undefined ? { endsAt } : {}) }],
      }).ok;
    expect(at("2030-01-01T03:00:00Z")).toBe(true);
    expect(at("2030-01-01T03:00:00.123456789+02:00")).toBe(true);
    expect(at("2030-01-01T03:00:00Z", "0001-01-01T00:00:00Z")).toBe(true);
    // Date.parse reads each of these; the apiserver's date-time would refuse the record (a 500
    // Alertmanager retries for ever), or the time is not one anyone meant.
    for (const bad of [
      "1",
      "March 7, 2030",
      "+275760-09-13T00:00:00.000Z",
      "-271821-04-20T00:00:00Z",
      "2030-01-01",
    ])
      expect(at(bad), bad).toBe(false);
    expect(at("2030-01-01T03:00:00Z", "garbage")).toBe(false);
  });

  it("refuses oversized labels rather than storing them", () => {
    const big = { ...sample.alerts[0], labels: { alertname: "x".repeat(2000) } };
    expect(parseWebhookMessage({ ...sample, alerts: [big] }).ok).toBe(false);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, n) => [`l${n}`, "v"]));
    expect(parseWebhookMessage({ ...sample, alerts: [{ ...sample.alerts[0], labels: many }] }).ok).toBe(
      false,
    );
  });
});
