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
      "alert startsAt yesterday is not a time",
    );
    expect(why("a string")).toMatch(/body/);
    expect(why(null)).toMatch(/body/);
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
