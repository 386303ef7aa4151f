import { describe, expect, it } from "vitest";
import type { Release } from "../api/kinds.js";
import { ApiError, type KubeClient, type ListResult } from "../runtime/client.js";
import type { KubeObject, Resource, WatchEvent } from "../runtime/types.js";
import { newActionId } from "./commands/action.js";
import { CLEAR_SCREEN } from "./commands/status.js";
import type { Connection } from "./connect.js";
import { wantsColor } from "./render/style.js";
import { run } from "./run.js";

const NOW = Date.parse("2025-03-01T12:00:00Z");

type Step = WatchEvent | Error;

/** An in-memory apiserver for the verbs the plugin uses. */
class FakeClient {
  readonly objects = new Map<string, KubeObject>();
  readonly patches: { plural: string; namespace?: string; name: string; patch: unknown }[] = [];
  /** `verb plural` pairs that answer 403. */
  readonly forbidden = new Set<string>();
  /** One script per watch call; a watch with no script waits until aborted. */
  readonly watches: Step[][] = [];
  /** Called after each patch, e.g. to play the controller. */
  afterPatch?: (obj: KubeObject) => void;
  private rv = 100;

  add(plural: string, obj: KubeObject): KubeObject {
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
    this.objects.set(this.key(plural, obj.metadata.namespace, obj.metadata.name ?? ""), stored);
    return stored;
  }

  private key(plural: string, namespace: string | undefined, name: string): string {
    return `${plural}/${namespace ?? ""}/${name}`;
  }

  private check(verb: string, res: Resource): void {
    if (this.forbidden.has(`${verb} ${res.plural}`)) {
      throw new ApiError(403, "Forbidden", `${res.plural} is forbidden`, undefined, {}, "fake");
    }
  }

  client(): KubeClient {
    const get = async <T extends KubeObject>(res: Resource, name: string, namespace?: string) => {
      this.check("get", res);
      return this.objects.get(this.key(res.plural, res.namespaced ? namespace : undefined, name)) as
        T | undefined;
    };
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the fake's methods read its state
    const self = this;
    return {
      get,
      async list<T extends KubeObject>(res: Resource, opts: { namespace?: string } = {}) {
        self.check("list", res);
        const items = [...self.objects.entries()]
          .filter(([k]) => k.startsWith(`${res.plural}/${opts.namespace ?? ""}/`))
          .map(([, v]) => v as T);
        return { items, metadata: { resourceVersion: String(self.rv) } } as ListResult<T>;
      },
      async mergePatch<T extends KubeObject>(
        res: Resource,
        name: string,
        namespace: string | undefined,
        patch: unknown,
      ) {
        self.check("patch", res);
        const key = self.key(res.plural, namespace, name);
        const obj = self.objects.get(key);
        if (!obj)
          throw new ApiError(404, "NotFound", `${res.plural} "${name}" not found`, undefined, {}, "fake");
        self.patches.push({ plural: res.plural, namespace, name, patch });
        const annotations = (patch as { metadata: { annotations: Record<string, string> } }).metadata
          .annotations;
        const next = self.add(res.plural, {
          ...obj,
          metadata: { ...obj.metadata, annotations: { ...obj.metadata.annotations, ...annotations } },
        });
        self.afterPatch?.(next);
        return next as T;
      },
      watch<T extends KubeObject>(res: Resource, _opts: unknown, signal: AbortSignal) {
        self.check("watch", res);
        const script = self.watches.shift();
        return (async function* () {
          for (const step of script ?? []) {
            if (step instanceof Error) throw step;
            yield step as WatchEvent<T>;
          }
          if (script && script.length > 0 && self.watches.length > 0) return;
          if (!signal.aborted) {
            await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
          }
          throw signal.reason;
        })();
      },
      apply: unsupported,
      applyStatus: unsupported,
      create: unsupported,
      replace: unsupported,
      delete: unsupported,
      close() {},
    } as KubeClient;
  }
}

async function unsupported(): Promise<never> {
  throw new Error("not used by the plugin");
}

const RELEASES = "releases";
const TOGGLES = "featuretoggles";

function release(name: string, status: Release["status"] = { phase: "Healthy" }): KubeObject {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Release",
    metadata: { name, namespace: "shop", generation: 1 },
    spec: {
      version: "1.0.0",
      replicas: 2,
      template: {},
      strategy: { canary: { steps: [{ setWeight: 50 }] } },
    },
    status,
  };
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(
  fake: FakeClient,
  argv: string[],
  opts: { isTTY?: boolean; signal?: AbortSignal; onOut?: (text: string) => void } = {},
): Promise<Outcome> {
  let stdout = "";
  let stderr = "";
  const connection: Connection = {
    client: fake.client(),
    defaultNamespace: "shop",
    server: "https://fake:6443",
  };
  const code = await run(argv, {
    io: {
      out: (t) => {
        stdout += t;
        opts.onOut?.(t);
      },
      err: (t) => void (stderr += t),
      isTTY: opts.isTTY ?? false,
      color: false,
    },
    connect: () => connection,
    now: () => NOW,
    actionId: () => "20250301T120000Z-cafe0001",
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { code, stdout, stderr };
}

describe("command line", () => {
  it.each([
    [[], 2, "stderr", "error: no command given"],
    [["--help"], 0, "stdout", "Commands:\n  status <release>"],
    [["help"], 0, "stdout", "Global flags:"],
    [["help", "promote"], 0, "stdout", "--full"],
    [["status", "--help"], 0, "stdout", "kubectl crescendo status <release> [flags]"],
    [["-h", "squad"], 0, "stdout", "Squads are cluster-scoped"],
    [["frobnicate", "x"], 2, "stderr", 'error: unknown command "frobnicate"\n\nkubectl crescendo: watch'],
    [
      ["status", "--full", "x"],
      2,
      "stderr",
      "error: unknown flag --full for status\nUsage: kubectl crescendo status",
    ],
    [["status"], 2, "stderr", "error: status needs a release name"],
    [["rearm"], 2, "stderr", "error: rearm needs a toggle name"],
    [["abort", "a", "b"], 2, "stderr", 'error: unexpected argument "b"'],
    [
      ["status", "x", "--bogus"],
      2,
      "stderr",
      "error: unknown option '--bogus'\nUsage: kubectl crescendo status",
    ],
    [["status", "x", "-n"], 2, "stderr", "argument missing"],
    [
      ["undo", "x", "--to-revision", "-1"],
      2,
      "stderr",
      "error: option '--to-revision' argument is ambiguous (a value starting with a dash is written --to-revision=-XYZ)",
    ],
    [["promote", "x", "--wait", "--timeout", "soon"], 2, "stderr", "--timeout must be a duration"],
    [["promote", "x", "--timeout", "1m"], 2, "stderr", "--timeout only applies with --wait"],
  ] as const)("%j exits %i", async (argv, code, stream, text) => {
    const fake = new FakeClient();
    fake.add(RELEASES, release("x"));
    const out = await cli(fake, [...argv]);
    expect(out.code).toBe(code);
    expect(out[stream]).toContain(text);
    expect(fake.patches).toEqual([]);
  });
});

describe("status", () => {
  it("renders the Release from the context's namespace, or -n's", async () => {
    const fake = new FakeClient();
    fake.add(RELEASES, release("web", { phase: "Progressing", canaryWeight: 20, desiredWeight: 50 }));
    fake.add(RELEASES, {
      ...release("web", { phase: "Healthy" }),
      metadata: { name: "web", namespace: "prod" },
    });
    const shop = await cli(fake, ["status", "web"]);
    expect(shop.code).toBe(0);
    expect(shop.stdout).toContain("Release      shop/web");
    expect(shop.stdout).toContain("canary desired 50%, achieved 20% (shifting)");
    const prod = await cli(fake, ["-n", "prod", "status", "web"]);
    expect(prod.stdout).toMatch(/Phase\s+Healthy/);
  });

  it("prints no escape sequence someone wrote into the Release: control characters are replaced", async () => {
    const fake = new FakeClient();
    const evil = "1.0\u001b]0;owned\u0007\u001b[2J";
    fake.add(RELEASES, release("web", { phase: "Healthy", stableVersion: evil, message: `running ${evil}` }));
    const out = await cli(fake, ["status", "web"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("1.0\ufffd]0;owned\ufffd\ufffd[2J");
    // eslint-disable-next-line no-control-regex -- no control character may be printed
    expect(out.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  });

  it("says not found, with a hint when the name is another kind", async () => {
    const fake = new FakeClient();
    fake.add(TOGGLES, { metadata: { name: "dark-mode", namespace: "shop" } });
    const missing = await cli(fake, ["status", "nothing"]);
    expect(missing).toMatchObject({
      code: 1,
      stderr: 'error: release "nothing" not found in namespace "shop"\n',
    });
    // Asked for a Release by kind, a FeatureToggle of that name gets the hint.
    const toggle = await cli(fake, ["status", "release/dark-mode"]);
    expect(toggle.code).toBe(1);
    expect(toggle.stderr).toContain('"dark-mode" is a FeatureToggle, not a Release');
    expect(toggle.stderr).toContain("kubectl crescendo rearm dark-mode -n shop");
  });

  it("shows a FeatureToggle's ramp when the name is no Release, and acts on it", async () => {
    const fake = new FakeClient();
    fake.add(TOGGLES, {
      metadata: { name: "dark-mode", namespace: "shop" },
      spec: {
        variants: { on: true, off: false },
        defaultVariant: "off",
        rollout: { variant: "on", steps: [{ setWeight: 5 }, { pause: {} }, { setWeight: 50 }] },
      },
      status: {
        key: "dark-mode",
        effectiveState: "Enabled",
        rollout: {
          id: "abc",
          variant: "on",
          phase: "Paused",
          pauseReason: "PauseStep",
          percentage: 5,
          currentStepIndex: 1,
          startedAt: "2024-01-01T00:00:00Z",
          message: "Paused at step 2: waiting for promote.",
        },
      },
    });
    const shown = await cli(fake, ["status", "dark-mode"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain("shop/dark-mode");
    expect(shown.stdout).toContain('Paused (PauseStep): variant "on" served to 5%');
    expect(shown.stdout).toMatch(/> 1\s+pause until promoted\s+paused \(PauseStep\)/);
    const promoted = await cli(fake, ["promote", "featuretoggle/dark-mode"]);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stdout).toContain('requested promote of featuretoggle "dark-mode"');
    const bare = await cli(fake, ["abort", "dark-mode"]);
    expect(bare.stdout).toContain('requested abort of featuretoggle "dark-mode"');
  });

  it("explains a refused read", async () => {
    const fake = new FakeClient();
    fake.forbidden.add("get releases");
    const out = await cli(fake, ["status", "web"]);
    expect(out).toMatchObject({
      code: 1,
      stderr: "error: you may not get releases in namespace shop (forbidden)\n",
    });
  });

  it("--watch redraws on every change, with a separator when not a terminal, until interrupted", async () => {
    const fake = new FakeClient();
    const first = fake.add(RELEASES, release("web", { phase: "Progressing" }));
    const next = {
      ...first,
      status: { phase: "Healthy" },
      metadata: { ...first.metadata, resourceVersion: "200" },
    };
    fake.watches.push([{ type: "MODIFIED", object: next }]);
    const stop = new AbortController();
    let draws = 0;
    const out = await cli(fake, ["status", "web", "--watch"], {
      signal: stop.signal,
      onOut: () => {
        if (++draws === 2) stop.abort();
      },
    });
    expect(out.code).toBe(0);
    const [before, after] = out.stdout.split("--- 2025-03-01T12:00:00.000Z ---\n");
    expect(before).toMatch(/Phase\s+Progressing/);
    expect(after).toMatch(/Phase\s+Healthy/);
    expect(out.stdout).not.toContain(CLEAR_SCREEN);
  });

  it("--watch clears a terminal before each redraw and tells how to stop", async () => {
    const fake = new FakeClient();
    fake.add(RELEASES, release("web"));
    const stop = new AbortController();
    const out = await cli(fake, ["status", "web", "-w"], {
      isTTY: true,
      signal: stop.signal,
      onOut: () => stop.abort(),
    });
    expect(out.stdout.startsWith(CLEAR_SCREEN)).toBe(true);
    expect(out.stdout).toContain("Ctrl-C to stop");
  });
});

describe("actions", () => {
  it.each([
    [["promote", "web"], "promote"],
    [["promote", "--full", "web"], "promote-full"],
    [["abort", "web"], "abort"],
    [["retry", "web"], "retry"],
    [["pause", "web"], "pause"],
    [["resume", "web"], "resume"],
  ])("%j sets the action annotations and nothing else", async (argv, action) => {
    const fake = new FakeClient();
    fake.add(RELEASES, release("web"));
    const out = await cli(fake, argv);
    expect(out.code).toBe(0);
    expect(fake.patches).toEqual([
      {
        plural: "releases",
        namespace: "shop",
        name: "web",
        patch: {
          metadata: {
            annotations: {
              "crescendo.dev/action": action,
              "crescendo.dev/action-id": "20250301T120000Z-cafe0001",
            },
          },
        },
      },
    ]);
    expect(out.stdout).toContain(
      `requested ${action} of release "web" in namespace "shop" (action-id 20250301T120000Z-cafe0001)`,
    );
    expect(out.stdout).toContain("kubectl crescendo status web -n shop");
  });

  it("rearm patches a FeatureToggle", async () => {
    const fake = new FakeClient();
    fake.add(TOGGLES, { metadata: { name: "one-click", namespace: "shop" } });
    const out = await cli(fake, ["rearm", "one-click"]);
    expect(out.code).toBe(0);
    expect(fake.patches[0]).toMatchObject({ plural: "featuretoggles", name: "one-click" });
  });

  it("kill patches a FeatureToggle with its reason; rearm removes the reason, so a later kill is not told with it", async () => {
    const fake = new FakeClient();
    fake.add(TOGGLES, { metadata: { name: "one-click", namespace: "shop" } });
    const out = await cli(fake, ["kill", "one-click", "--reason", " checkout 500s since 12:00 "]);
    expect(out.code).toBe(0);
    expect(fake.patches[0]).toMatchObject({
      plural: "featuretoggles",
      name: "one-click",
      patch: {
        metadata: {
          annotations: {
            "crescendo.dev/action": "kill",
            "crescendo.dev/action-reason": "checkout 500s since 12:00",
          },
        },
      },
    });
    await cli(fake, ["rearm", "one-click"]);
    await cli(fake, ["kill", "one-click"]);
    for (const p of fake.patches.slice(1)) {
      expect(p).toMatchObject({
        patch: { metadata: { annotations: { "crescendo.dev/action-reason": null } } },
      });
    }
  });

  it("rearm on a Release says it is a Release", async () => {
    const fake = new FakeClient();
    fake.add(RELEASES, release("web"));
    const out = await cli(fake, ["rearm", "web"]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('error: featuretoggle "web" not found in namespace "shop"\n');
    expect(out.stderr).toContain('hint: "web" is a Release, not a FeatureToggle: promote, abort, retry');
  });

  it("a missing release exits 1 with the not-found message", async () => {
    const out = await cli(new FakeClient(), ["abort", "ghost", "-n", "prod"]);
    expect(out).toMatchObject({ code: 1, stderr: 'error: release "ghost" not found in namespace "prod"\n' });
  });

  it("a refused patch names the verb, the resource and the namespace", async () => {
    const fake = new FakeClient();
    fake.add(RELEASES, release("web"));
    fake.forbidden.add("patch releases");
    const out = await cli(fake, ["promote", "web"]);
    expect(out).toMatchObject({
      code: 1,
      stderr: "error: you may not patch releases in namespace shop (forbidden)\n",
    });
  });

  describe("--wait", () => {
    const acted = (obj: KubeObject, result: string): WatchEvent => ({
      type: "MODIFIED",
      object: {
        ...obj,
        status: {
          lastAction: { id: "20250301T120000Z-cafe0001", action: "promote", acceptedAt: "x", result },
        },
      },
    });

    it("prints the controller's result once it acted on this id", async () => {
      const fake = new FakeClient();
      fake.add(RELEASES, release("web"));
      fake.afterPatch = (obj) =>
        fake.watches.push([
          { type: "MODIFIED", object: { ...obj, status: { lastAction: { id: "older", action: "pause" } } } },
          acted(obj, "promoted past step 0 (setWeight 50)"),
        ]);
      const out = await cli(fake, ["promote", "web", "--wait"]);
      expect(out.code).toBe(0);
      expect(out.stdout).toContain("done: promoted past step 0 (setWeight 50)\n");
    });

    it("exits 1 when the controller ignored the action", async () => {
      const fake = new FakeClient();
      fake.add(RELEASES, release("web"));
      fake.afterPatch = (obj) => fake.watches.push([acted(obj, "ignored: no rollout in progress")]);
      const out = await cli(fake, ["promote", "web", "--wait"]);
      expect(out).toMatchObject({
        code: 1,
        stderr: "error: the controller did not act: ignored: no rollout in progress\n",
      });
    });

    it("gives up after --timeout, saying the request stays", async () => {
      const fake = new FakeClient();
      fake.add(RELEASES, release("web"));
      const out = await cli(fake, ["pause", "web", "--wait", "--timeout", "50ms"]);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain(
        "the controller has not acted after 0.05s: is the Crescendo operator running?",
      );
      expect(out.stderr).toContain("will still act on action-id 20250301T120000Z-cafe0001 once");
    });
  });
});

describe("squad", () => {
  const squad = {
    metadata: { name: "checkout" },
    spec: { tribe: "payments", namespaces: [{ name: "shop" }] },
    status: {
      namespaces: [{ name: "shop", ready: true }],
      releases: { total: 1, progressing: 0, paused: 0, healthy: 1, degraded: 0, rolledBack: 0 },
    },
  };

  it("renders the squad and its Releases", async () => {
    const fake = new FakeClient();
    fake.add("squads", squad);
    fake.add(RELEASES, release("web", { phase: "Healthy", stableVersion: "1.0.0" }));
    const out = await cli(fake, ["squad", "checkout"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("checkout (tribe payments)");
    expect(out.stdout).toMatch(/shop\s+web\s+Healthy\s+1\.0\.0/);
  });

  it("still renders when the Releases may not be listed, with a note", async () => {
    const fake = new FakeClient();
    fake.add("squads", squad);
    fake.forbidden.add("list releases");
    const out = await cli(fake, ["squad", "checkout"]);
    expect(out.code).toBe(0);
    expect(out.stderr).toBe("note: cannot list releases in namespace shop (forbidden)\n");
  });

  it("a missing squad is not found, without a namespace", async () => {
    const out = await cli(new FakeClient(), ["squad", "nobody"]);
    expect(out).toMatchObject({ code: 1, stderr: 'error: squad "nobody" not found\n' });
  });
});

describe("tribe and chapter", () => {
  const squads = [
    {
      metadata: { name: "checkout" },
      spec: {
        tribe: "payments",
        namespaces: [{ name: "shop" }],
        members: [{ kind: "User", name: "alice", role: "lead", chapter: "backend" }],
      },
      status: { namespaces: [{ name: "shop", ready: true }] },
    },
    {
      metadata: { name: "search" },
      spec: { tribe: "discovery", members: [{ kind: "User", name: "alice", chapter: "backend" }] },
    },
  ];

  it("shows the tribe's squads and the Releases in flight in their namespaces", async () => {
    const fake = new FakeClient();
    for (const s of squads) fake.add("squads", s);
    fake.add(RELEASES, release("web", { phase: "Progressing", canaryWeight: 20 }));
    const out = await cli(fake, ["tribe", "payments"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("Squads    1 (0 ready)");
    expect(out.stdout).toMatch(/checkout\s+shop\s+web\s+Progressing/);
    expect(out.stdout).not.toContain("search");
  });

  it("a tribe no squad names is an error naming the tribes there are", async () => {
    const fake = new FakeClient();
    for (const s of squads) fake.add("squads", s);
    const out = await cli(fake, ["tribe", "money"]);
    expect(out).toMatchObject({
      code: 1,
      stderr:
        'error: tribe "money" has no squads (no Squad sets spec.tribe: money)\nhint: the tribes squads name: discovery, payments\n',
    });
  });

  it("shows a chapter's members across squads; an unknown chapter is an error", async () => {
    const fake = new FakeClient();
    for (const s of squads) fake.add("squads", s);
    const out = await cli(fake, ["chapter", "backend"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^Chapter backend: 1 member in 2 squads across 2 tribes/);
    expect((await cli(fake, ["chapter", "design"])).stderr).toContain(
      "hint: the chapters members name: backend",
    );
  });

  it("says what to ask for when Squads may not be listed", async () => {
    const fake = new FakeClient();
    fake.forbidden.add("list squads");
    const out = await cli(fake, ["tribe", "payments"]);
    expect(out).toMatchObject({ code: 1, stderr: "error: you may not list squads (forbidden)\n" });
  });
});

describe("connection failures", () => {
  it("name the server", async () => {
    const fake = new FakeClient();
    const client = fake.client();
    client.get = async () => {
      throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" });
    };
    const out = await run(["status", "web"], {
      io: { out: () => {}, err: (t) => void (errText += t), isTTY: false, color: false },
      connect: () => ({ client, defaultNamespace: "shop", server: "https://127.0.0.1:6443" }),
    });
    expect(out).toBe(1);
    expect(errText).toBe(
      "error: cannot reach the Kubernetes API at https://127.0.0.1:6443: connect ECONNREFUSED 127.0.0.1:6443\n",
    );
  });
  let errText = "";
});

describe("newActionId", () => {
  it("is the UTC time plus randomness, unique per call", () => {
    const a = newActionId(NOW);
    expect(a).toMatch(/^20250301T120000Z-[0-9a-f]{8}$/);
    expect(newActionId(NOW)).not.toBe(a);
  });
});

describe("wantsColor", () => {
  it.each([
    [true, {}, true],
    [false, {}, false],
    [undefined, {}, false],
    [true, { NO_COLOR: "1" }, false],
    [true, { NO_COLOR: "" }, true],
  ])("tty %s env %j → %s", (tty, env, want) => {
    expect(wantsColor(tty, env)).toBe(want);
  });
});

describe("toggles", () => {
  const debtToggle = (name: string, namespace: string, since: string, callers: string[] = []): KubeObject =>
    ({
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "FeatureToggle",
      metadata: { name, namespace },
      spec: { variants: { on: true }, defaultVariant: "on" },
      status: {
        conditions: [
          {
            type: "FullyRolledOut",
            status: "True",
            reason: "OneVariantServed",
            message: "",
            lastTransitionTime: since,
          },
        ],
        insight: { callers24h: callers },
      },
    }) as KubeObject;

  it("lists the namespace's toggle debt oldest first, with the callers", async () => {
    const fake = new FakeClient();
    fake.add(TOGGLES, debtToggle("newer", "shop", "2025-02-27T12:00:00Z"));
    fake.add(
      TOGGLES,
      debtToggle("older", "shop", "2025-02-01T12:00:00Z", ["system:serviceaccount:shop:web"]),
    );
    fake.add(TOGGLES, debtToggle("elsewhere", "other", "2025-01-01T12:00:00Z"));
    const out = await cli(fake, ["toggles"]);
    expect(out.code).toBe(0);
    const lines = out.stdout.split("\n");
    expect(lines[1]).toMatch(/^shop\s+older\s+FullyRolledOut\s+.*system:serviceaccount:shop:web$/);
    expect(lines[2]).toMatch(/^shop\s+newer\s+FullyRolledOut/);
    expect(out.stdout).toContain("2 of 2 toggles have debt.");
  });

  it("with --squad, lists every namespace of the squad; a name is refused", async () => {
    const fake = new FakeClient();
    fake.add("squads", {
      metadata: { name: "checkout" },
      status: { namespaces: [{ name: "a" }, { name: "b" }] },
    });
    fake.add(TOGGLES, debtToggle("t1", "b", "2025-02-01T12:00:00Z"));
    fake.add(TOGGLES, debtToggle("t2", "a", "2025-02-02T12:00:00Z"));
    fake.add(TOGGLES, debtToggle("t3", "shop", "2025-01-02T12:00:00Z"));
    const out = await cli(fake, ["toggles", "--squad", "checkout"]);
    expect(
      out.stdout
        .split("\n")
        .slice(1, 3)
        .map((l) => l.split(/\s+/).slice(0, 2).join("/")),
    ).toEqual(["b/t1", "a/t2"]);
    expect((await cli(fake, ["toggles", "checkout"])).code).toBe(2);
  });

  it("says so when there is no debt", async () => {
    const out = await cli(new FakeClient(), ["toggles"]);
    expect(out).toMatchObject({ code: 0, stdout: "No toggle debt among 0 toggles.\n" });
  });
});
