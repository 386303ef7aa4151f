import { describe, expect, it } from "vitest";
import { ReleaseResource, SquadResource } from "../api/kinds.js";
import { ApiError } from "../runtime/client.js";
import { CliError, explain, unreachable } from "./errors.js";

const api = (status: number, message = "boom") =>
  new ApiError(status, "x", message, undefined, {}, "PATCH /x");

describe("explain", () => {
  it.each([
    [api(403), "patch", "shop", "you may not patch releases in namespace shop (forbidden)"],
    [api(403), "watch", undefined, "you may not watch releases (forbidden)"],
    [api(401), "get", "shop", "the apiserver rejected your credentials (unauthorized)"],
    [api(404), "list", "shop", "the Release API (releases.crescendo.dev) is not served here"],
    [
      api(422, "metadata.annotations: Invalid value"),
      "patch",
      "shop",
      "patch releases in namespace shop: metadata.annotations: Invalid value",
    ],
    [new Error("socket hang up"), "get", "shop", "get releases in namespace shop: socket hang up"],
  ] as const)("%s on %s", (err, verb, namespace, want) => {
    const explained = explain(err, { verb, resource: ReleaseResource, namespace });
    expect(explained).toBeInstanceOf(CliError);
    expect(explained.message).toContain(want);
    expect(explained.exitCode).toBe(1);
  });

  it("names a cluster-scoped resource without a namespace", () => {
    expect(explain(api(403), { verb: "get", resource: SquadResource }).message).toBe(
      "you may not get squads (forbidden)",
    );
  });

  it("keeps a CliError as it is", () => {
    const err = new CliError("already said");
    expect(explain(err, { verb: "get", resource: ReleaseResource })).toBe(err);
  });
});

describe("unreachable", () => {
  it("recognises connection and TLS failures only", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" });
    expect(unreachable(refused, "https://127.0.0.1:6443")?.message).toBe(
      "cannot reach the Kubernetes API at https://127.0.0.1:6443: connect ECONNREFUSED 127.0.0.1:6443",
    );
    const tls = Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
    expect(unreachable(tls, undefined)?.message).toBe(
      "cannot reach the Kubernetes API: self-signed certificate",
    );
    expect(unreachable(new Error("nope"), "x")).toBeUndefined();
  });
});
