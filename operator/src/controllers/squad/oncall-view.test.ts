import { describe, expect, it } from "vitest";
import { oncallView } from "./oncall-view.js";

const oncall = { webhookSecretRef: { name: "oncall", key: "url" }, format: "teams", channel: "#pay" };
const raw = (spec: unknown) => ({ metadata: { name: "payments" }, spec });

describe("oncallView (on-call for a Squad whose spec is refused)", () => {
  it("keeps oncall, tribe and namespaces when the refusal is elsewhere", () => {
    const view = oncallView(
      raw({ oncall, tribe: "money", namespaces: [{ name: "shop" }], networkIsolation: "Everything" }),
    );
    expect(view?.spec).toMatchObject({ oncall, tribe: "money", namespaces: [{ name: "shop" }] });
  });

  it("drops what does not parse on its own: the Secret is then read from the Squad's own namespace", () => {
    const view = oncallView(raw({ oncall, tribe: "Not A Label", namespaces: "shop" }));
    expect(view?.spec.oncall).toMatchObject(oncall);
    expect(view?.spec.tribe).toBeUndefined();
    expect(view?.spec.namespaces).toEqual([]);
  });

  it("gives nothing when there is no oncall, or it does not parse", () => {
    expect(oncallView(raw({ namespaces: [{ name: "shop" }] }))).toBeUndefined();
    expect(oncallView(raw({ oncall: { format: "slack" } }))).toBeUndefined();
    expect(oncallView(raw({ oncall: { ...oncall, format: "pager" } }))).toBeUndefined();
    expect(oncallView(raw(undefined))).toBeUndefined();
  });
});
