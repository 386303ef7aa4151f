/**
 * The chart's alerts behave: every alert in the rendered PrometheusRule has `promtool test rules`
 * cases (hack/alerts/prometheusrule.test.yaml) where it fires, where it must not, for the first
 * rollback after an operator restart, and with the operator down. promtool evaluates the rules
 * as Prometheus would, so this is the rule file Prometheus gets, not a copy of it.
 */
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { helmPath, helmTemplate } from "./helm.js";

const run = promisify(execFile);
const CASES = join(import.meta.dirname, "alerts/prometheusrule.test.yaml");
const promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => existsSync(p));
const haveHelm = existsSync(helmPath());

interface RuleGroup {
  name: string;
  rules: { alert?: string; expr: string }[];
}
interface TestCase {
  name: string;
  alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[];
}

describe.skipIf(!promtool || !haveHelm)("chart alerts (promtool test rules)", async () => {
  // Rendered as CI installs it for Prometheus: the ServiceMonitor on, a routing label on alerts.
  const objects = haveHelm
    ? await helmTemplate("crescendo-system", [
        "serviceMonitor.enabled=true",
        "prometheusRule.enabled=true",
        "prometheusRule.alertLabels.team=platform",
      ])
    : [];
  const rule = objects.find((o) => o.kind === "PrometheusRule");
  const groups = ((rule?.spec ?? { groups: [] }) as { groups: RuleGroup[] }).groups;
  const alerts = groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
  const cases = (parse(readFileSync(CASES, "utf8")) as { tests: TestCase[] }).tests;
  const tmp = mkdtempSync(join(tmpdir(), "crescendo-alerts-test-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("has cases where every alert fires and where it does not", () => {
    expect(alerts.length).toBeGreaterThanOrEqual(6);
    for (const alert of alerts) {
      const checks = cases.flatMap((c) => (c.alert_rule_test ?? []).filter((t) => t.alertname === alert));
      expect(
        checks.some((t) => t.exp_alerts.length > 0),
        `${alert} has a case where it fires`,
      ).toBe(true);
      expect(
        checks.some((t) => t.exp_alerts.length === 0),
        `${alert} has a case where it does not fire`,
      ).toBe(true);
    }
    const names = cases.map((c) => c.name).join("\n");
    expect(names).toMatch(/first rollback .*after .*restart/);
    expect(names).toMatch(/operator (down|gone)/);
  });

  it("passes promtool test rules against the rendered rule file", async () => {
    writeFileSync(join(tmp, "rules.yaml"), stringify({ groups }));
    copyFileSync(CASES, join(tmp, "prometheusrule.test.yaml"));
    const result = await run(promtool!, ["test", "rules", join(tmp, "prometheusrule.test.yaml")]).catch(
      (err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? "", stderr: err.stderr ?? "" }),
    );
    expect(result.stdout + result.stderr).toContain("SUCCESS");
  });
});
