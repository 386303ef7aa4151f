import { describe, expect, it } from "vitest";
import { argoRequestKey, argoRequestsBy, countedRequests } from "./argo-requests.js";
import { parseMetrics } from "./prom.js";

// Series as Argo Rollouts v1.10 exposes them (argoproj/pkg kubeclientmetrics labels).
const series = (kind: string, name: string, verb: string, ns: string, v: number, code = "200"): string =>
  `controller_clientset_k8s_request_total{kind="${kind}",name="${name}",namespace="${ns}",status_code="${code}",verb="${verb}"} ${v}`;

const BEFORE = [
  series("rel-0", "status", "Patch", "squad-0", 3),
  series("rel-1", "status", "Patch", "squad-1", 3),
  series("replicasets", "N/A", "Update", "squad-0", 1),
  series("leases", "argo-rollouts-controller-lock", "Update", "kube-system", 10),
].join("\n");

const AFTER = [
  "# TYPE controller_clientset_k8s_request_total counter",
  series("rel-0", "status", "Patch", "squad-0", 7),
  series("rel-1", "status", "Patch", "squad-1", 6),
  series("rel-1", "status", "Patch", "squad-1", 1, "409"),
  series("rel-0", "status", "Update", "squad-0", 1),
  series("rel-1", "status", "Update", "squad-1", 1),
  series("replicasets", "N/A", "Update", "squad-0", 3),
  series("replicasets", "N/A", "Update", "squad-1", 2),
  series("events", "N/A", "Create", "squad-0", 5),
  series("", "", "Create", "", 2),
  series("configmaps", "argo-rollouts-config", "Get", "kube-system", 1),
  series("rollouts", "", "Watch", "", 1),
  series("leases", "argo-rollouts-controller-lock", "Update", "kube-system", 14),
].join("\n");

describe("Argo Rollouts request keys", () => {
  it("names a subresource request by the resource, not by the object the path ends with", () => {
    expect(argoRequestKey({ verb: "Patch", kind: "rel-0", name: "status" })).toBe("Patch rollouts/status");
    expect(argoRequestKey({ verb: "Update", kind: "rel-12", name: "status" })).toBe("Update rollouts/status");
    // An object the bench did not create: the resource is unknown, the subresource is not.
    expect(argoRequestKey({ verb: "Patch", kind: "rel-0-5d8f9c", name: "scale" })).toBe("Patch ?/scale");
    expect(argoRequestKey({ verb: "Update", kind: "web", name: "scale" }, () => "deployments")).toBe(
      "Update deployments/scale",
    );
  });

  it("keeps plain requests as verb and resource, and says when Argo recorded no kind", () => {
    expect(argoRequestKey({ verb: "Update", kind: "replicasets", name: "N/A" })).toBe("Update replicasets");
    expect(argoRequestKey({ verb: "Get", kind: "configmaps", name: "argo-rollouts-config" })).toBe(
      "Get configmaps",
    );
    expect(argoRequestKey({ verb: "List", kind: "rollouts", name: "N/A" })).toBe("List rollouts");
    // A Create's kind is the path's last segment, so a Create named "status" is not a subresource guess.
    expect(argoRequestKey({ verb: "Create", kind: "events", name: "status" })).toBe("Create events");
    expect(argoRequestKey({ verb: "Create", kind: "", name: "" })).toBe("Create (kind not recorded)");
  });

  it("sums the deltas per key over objects, namespaces and status codes", () => {
    const rec = argoRequestsBy(parseMetrics(BEFORE), parseMetrics(AFTER));
    expect(rec).toEqual({
      "Update replicasets": 4,
      "Patch rollouts/status": 8,
      "Update rollouts/status": 2,
      "Create events": 5,
      "Create (kind not recorded)": 2,
      "Get configmaps": 1,
      "Watch rollouts": 1,
      "Update leases": 4,
    });
    expect(Object.keys(rec)[0]).toBe("Patch rollouts/status");
    expect(Object.keys(rec).some((k) => /rel-\d/.test(k))).toBe(false);
  });

  it("counts the same requests as before the relabelling: watches and the Lease left out", () => {
    const rec = argoRequestsBy(parseMetrics(BEFORE), parseMetrics(AFTER));
    // 8 + 2 status writes, 4 ReplicaSet updates, 5 events, 2 unrecorded creates, 1 get.
    expect(countedRequests(rec)).toBe(22);
    expect(countedRequests({ "Update leases": 15, "Watch ingresses": 1 })).toBe(0);
    expect(countedRequests({})).toBe(0);
  });

  it("reads a first scrape on its own as counts from zero (cold start)", () => {
    const rec = argoRequestsBy(undefined, parseMetrics(BEFORE));
    expect(rec).toEqual({ "Patch rollouts/status": 6, "Update leases": 10, "Update replicasets": 1 });
  });
});
