import { describe, expect, it } from "vitest";
import { describePath, summarizePath, type IncidentRun } from "./incident-summary.js";

const run = (o: Partial<IncidentRun>): IncidentRun => ({ namespace: "ns", release: "r", raisedAt: 0, ...o });

describe("bench:incident summary", () => {
  it("counts from the webhook and from startsAt separately; group_wait sits between them", () => {
    const runs = [
      run({ alertStartsAt: 4000, alertReceivedAt: 5200, verdictAt: 5200, actedAt: 5500, restoredAt: 6000 }),
      run({ alertStartsAt: 3000, alertReceivedAt: 4100, verdictAt: 4100, actedAt: 4400, restoredAt: 5100 }),
    ];
    const r = summarizePath(runs, 0, "alert webhook");
    expect(r.runs).toBe(2);
    expect(r.alertToActionMs).toEqual({ min: 300, p50: 300, p95: 300, max: 300 });
    expect(r.alertToRestoredMs).toEqual({ min: 800, p50: 900, p95: 1000, max: 1000 });
    expect(r.fromAlertStart.alertToActionMs).toEqual({ min: 1400, p50: 1450, p95: 1500, max: 1500 });
    expect(r.detection).toMatchObject({ detected: 2, alertsFired: 2, verdict: "alert webhook" });
    expect(r.detection.raisedToAlertWebhookMs?.max).toBe(5200);
    expect(r.missed).toBe(0);
  });

  it("keeps an action before the alert as a negative figure, and counts what never happened", () => {
    const runs = [
      // Post-promotion analysis reverted 2 s before Alertmanager's POST arrived.
      run({ verdictAt: 3000, actedAt: 3000, restoredAt: 3500, alertStartsAt: 4000, alertReceivedAt: 5000 }),
      // Reverted so fast the alert never fired.
      run({ verdictAt: 2500, actedAt: 2500, restoredAt: 2600 }),
      // Never reverted.
      run({ alertStartsAt: 4000, alertReceivedAt: 5000 }),
    ];
    const r = summarizePath(runs, 1, "phase Reverted");
    expect(r.alertToActionMs).toEqual({ min: -2000, p50: -2000, p95: -2000, max: -2000 });
    expect(r.detection.alertsFired).toBe(2);
    expect(r.detection.detected).toBe(2);
    expect(r.missed).toBe(1);
    expect(r.wrongReverts).toBe(1);
    expect(r.alertToResolvedMs).toBeNull();
    expect(describePath("post-promotion", r).join("\n")).toContain("resolved webhook ms –");
  });
});
