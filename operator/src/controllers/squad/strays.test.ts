import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../runtime/types.js";
import { limitRangeHasStrays, quotaStrayPatch, strayQuotaKeys } from "./strays.js";

const quota = (hard: Record<string, string>, resourceVersion = "7"): KubeObject => ({
  apiVersion: "v1",
  kind: "ResourceQuota",
  metadata: { name: "crescendo-quota", namespace: "pay", resourceVersion },
  spec: { hard },
});

const limitRange = (...limits: Record<string, unknown>[]): KubeObject => ({
  apiVersion: "v1",
  kind: "LimitRange",
  metadata: { name: "crescendo-limits", namespace: "pay" },
  spec: { limits },
});

describe("quotaStrayPatch", () => {
  it("deletes the keys added by hand, guarded by the observed resourceVersion", () => {
    const patch = quotaStrayPatch(
      quota({ cpu: "4" }),
      quota({ cpu: "4", "count/deployments.apps": "0", "requests.memory": "1Gi" }),
    );
    expect(patch).toEqual({
      metadata: { resourceVersion: "7" },
      spec: { hard: { "count/deployments.apps": null, "requests.memory": null } },
    });
    expect(strayQuotaKeys(patch!)).toEqual(["count/deployments.apps", "requests.memory"]);
  });

  it("is nothing when the observed keys are the desired ones, whatever their values", () => {
    expect(quotaStrayPatch(quota({ cpu: "4" }), quota({ cpu: "2" }))).toBeUndefined();
    expect(quotaStrayPatch(quota({ cpu: "4" }), quota({}))).toBeUndefined();
    expect(quotaStrayPatch(quota({ cpu: "4" }), undefined)).toBeUndefined();
  });

  it("only looks at quotas", () => {
    expect(quotaStrayPatch(limitRange(), quota({ pods: "1" }))).toBeUndefined();
  });
});

describe("limitRangeHasStrays", () => {
  const desired = limitRange({ type: "Container", max: { cpu: "2" }, defaultRequest: { cpu: "100m" } });

  it("accepts what the apiserver's defaulting adds (default from max)", () => {
    const stored = limitRange({
      type: "Container",
      max: { cpu: "2" },
      default: { cpu: "2" },
      defaultRequest: { cpu: "100m" },
    });
    expect(limitRangeHasStrays(desired, stored)).toBe(false);
  });

  it("defaults the request from the limit, then from the min, as core/v1 does", () => {
    const want = limitRange({ type: "Container", default: { memory: "1Gi" }, min: { cpu: "10m" } });
    const stored = limitRange({
      type: "Container",
      default: { memory: "1Gi" },
      defaultRequest: { memory: "1Gi", cpu: "10m" },
      min: { cpu: "10m" },
    });
    expect(limitRangeHasStrays(want, stored)).toBe(false);
  });

  it("finds a resource added by hand to an item", () => {
    const stored = limitRange({
      type: "Container",
      max: { cpu: "2", memory: "64Mi" },
      default: { cpu: "2", memory: "64Mi" },
      defaultRequest: { cpu: "100m", memory: "64Mi" },
    });
    expect(limitRangeHasStrays(desired, stored)).toBe(true);
  });

  it("finds an item added by hand", () => {
    const stored = limitRange(
      { type: "Container", max: { cpu: "2" }, default: { cpu: "2" }, defaultRequest: { cpu: "100m" } },
      { type: "Pod", max: { cpu: "100m" } },
    );
    expect(limitRangeHasStrays(desired, stored)).toBe(true);
  });

  it("ignores values (the subset check sees those) and objects of other kinds", () => {
    const stored = limitRange({
      type: "Container",
      max: { cpu: "2000m" },
      default: { cpu: "2000m" },
      defaultRequest: { cpu: "0.1" },
    });
    expect(limitRangeHasStrays(desired, stored)).toBe(false);
    expect(limitRangeHasStrays(quota({}), quota({ pods: "1" }))).toBe(false);
    expect(limitRangeHasStrays(desired, undefined)).toBe(false);
  });
});
