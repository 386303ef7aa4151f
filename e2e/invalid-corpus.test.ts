/**
 * The invalid-manifest corpus (e2e/fixtures/invalid/): every file is a mistake a squad could make
 * on its first day, applied with kubectl as they would. Each must be refused at admission with
 * the message its header names, or accepted and then reported `Stalled` with the reason and
 * message its header names (`kubectl wait --for=condition=Stalled` answers), or, for a part of a
 * spec refused on its own (a Squad's incident policy), accepted with the rest reconciled (Ready)
 * and a condition of its own saying what was refused. None may be accepted silently, and the
 * operator must stay healthy through all of them.
 *
 * Header lines of a corpus file:
 *   # expect: admission /regex/             kubectl apply fails; stderr matches
 *   # expect: Stalled <Reason> /regex/      applied; the last object in the file is Stalled with
 *                                           that reason and a message matching
 *   # expect: <Type>=False <Reason> /regex/ applied; the last object becomes Ready, not Stalled,
 *                                           and its condition <Type> is False with that reason
 *                                           and a message matching
 *   # apply: server-side                    apply with --server-side (sends null values)
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { NamespaceResource } from "../operator/src/runtime/resources.js";
import { kubeconfigPath, kubectl, testClient } from "./support/kube.js";
import { OperatorProcess } from "./support/operator.js";

const DIR = join(import.meta.dirname, "fixtures/invalid");
const NAMESPACE = "invalid-corpus";
/** A namespace that exists before any Squad, owned by none: claiming it without adopt conflicts. */
const PREEXISTING = "corpus-preexisting";
const STALLED_WITHIN = "30s";

interface Expectation {
  kind: "admission" | "Stalled" | "refusedPart";
  reason?: string;
  /** For a refused part: the condition that says so. */
  condition?: string;
  message: RegExp;
  serverSide: boolean;
}

function expectationOf(text: string, file: string): Expectation {
  const line = /^# expect: (.*)$/m.exec(text)?.[1];
  if (!line) throw new Error(`${file}: no "# expect:" line`);
  const start = line.indexOf("/");
  const end = line.lastIndexOf("/");
  if (start < 0 || end <= start) throw new Error(`${file}: the expectation needs a /regex/`);
  const [word = "", reason] = line.slice(0, start).trim().split(/\s+/);
  const part = /^([A-Z][A-Za-z]+)=False$/.exec(word)?.[1];
  const kind = part ? "refusedPart" : word;
  if (kind !== "admission" && kind !== "Stalled" && kind !== "refusedPart") {
    throw new Error(`${file}: unknown expectation "${word}"`);
  }
  if (kind !== "admission" && !reason) throw new Error(`${file}: ${word} needs a reason`);
  return {
    kind,
    ...(reason ? { reason } : {}),
    ...(part ? { condition: part } : {}),
    message: new RegExp(line.slice(start + 1, end)),
    serverSide: /^# apply: server-side$/m.test(text),
  };
}

/** The last object of the file: the one the expectation is about. */
function subjectOf(text: string): { kind: string; name: string; namespaced: boolean } {
  const docs = parseAllDocuments(text).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
  const last = docs[docs.length - 1];
  if (!last) throw new Error("empty corpus file");
  return { kind: last.kind.toLowerCase(), name: last.metadata.name, namespaced: last.kind !== "Squad" };
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

let client: KubeClient;
let operator: OperatorProcess;

beforeAll(async () => {
  client = testClient();
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "invalid-corpus" });
  for (const name of [NAMESPACE, PREEXISTING]) {
    await client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } }, NamespaceResource, {
      fieldManager: "e2e",
    });
  }
});

afterAll(async () => {
  for (const file of files) {
    await kubectl(["delete", "-f", join(DIR, file), "-n", NAMESPACE, "--ignore-not-found", "--wait=false"]);
  }
  await kubectl(["delete", "namespace", NAMESPACE, PREEXISTING, "--ignore-not-found", "--wait=false"]);
  await operator?.stop();
  client?.close();
});

describe("the invalid-manifest corpus", () => {
  it("has at least 40 cases across the three kinds", () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
    const kinds = new Set(files.map((f) => subjectOf(readFileSync(join(DIR, f), "utf8")).kind));
    expect([...kinds].sort()).toEqual(["featuretoggle", "release", "squad"]);
  });

  describe.concurrent("each file is refused or reported, never silently accepted", () => {
    for (const file of files) {
      const text = readFileSync(join(DIR, file), "utf8");
      const want = expectationOf(text, file);
      const subject = subjectOf(text);
      const ns = subject.namespaced ? ["-n", NAMESPACE] : [];
      const shown = want.condition ? `${want.condition}=False` : want.kind;
      it(`${file}: ${shown}${want.reason ? ` ${want.reason}` : ""} ${String(want.message)}`, async () => {
        const apply = await kubectl([
          "apply",
          ...(want.serverSide ? ["--server-side", "--field-manager=corpus"] : []),
          "-f",
          join(DIR, file),
          "-n",
          NAMESPACE,
        ]);
        if (want.kind === "admission") {
          expect(apply.code, `accepted at admission:\n${apply.stdout}`).not.toBe(0);
          expect(apply.stderr).toMatch(want.message);
          const found = await kubectl([
            "get",
            subject.kind,
            subject.name,
            ...ns,
            "--ignore-not-found",
            "-o",
            "name",
          ]);
          expect(found.stdout.trim(), "refused, yet the object exists").toBe("");
          return;
        }
        expect(apply.code, apply.stderr).toBe(0);
        if (want.kind === "refusedPart") {
          await expectRefusedPart(subject, ns, want);
          return;
        }
        const wait = await kubectl([
          "wait",
          `--for=condition=Stalled=True`,
          `${subject.kind}/${subject.name}`,
          ...ns,
          `--timeout=${STALLED_WITHIN}`,
        ]);
        const got = await kubectl(["get", subject.kind, subject.name, ...ns, "-o", "json"]);
        const conditions =
          (JSON.parse(got.stdout || "{}") as { status?: { conditions?: Condition[] } }).status?.conditions ??
          [];
        const stalled = conditions.find((c) => c.type === "Stalled");
        expect(
          wait.code,
          `not Stalled within ${STALLED_WITHIN}: ${JSON.stringify(conditions)}\n${operator.tail(10)}`,
        ).toBe(0);
        expect(stalled?.reason).toBe(want.reason);
        expect(stalled?.message).toMatch(want.message);
        expect(conditions.find((c) => c.type === "Ready")?.status).not.toBe("True");
        // `kubectl get` shows it where users look: READY False, and the reason where the kind
        // has a REASON column (Releases and FeatureToggles).
        const row = await kubectl(["get", subject.kind, subject.name, ...ns, "--no-headers"]);
        expect(row.stdout).toMatch(/\bFalse\b/);
        if (subject.kind !== "squad") expect(row.stdout).toContain(` ${want.reason}`);
      });
    }
  });

  it("leaves the operator healthy", async () => {
    const health = await fetch(`http://127.0.0.1:${operator.healthPort}/healthz`);
    expect(health.status).toBe(200);
    expect(operator.child.exitCode).toBeNull();
  });
});

/**
 * A part refused on its own: the rest is reconciled (Ready, never Stalled for it), the part's
 * condition is False with the reason and message.
 */
async function expectRefusedPart(
  subject: { kind: string; name: string },
  ns: string[],
  want: Expectation,
): Promise<void> {
  const target = `${subject.kind}/${subject.name}`;
  const refused = await kubectl([
    "wait",
    `--for=condition=${want.condition ?? ""}=False`,
    target,
    ...ns,
    `--timeout=${STALLED_WITHIN}`,
  ]);
  const ready = await kubectl([
    "wait",
    "--for=condition=Ready=True",
    target,
    ...ns,
    `--timeout=${STALLED_WITHIN}`,
  ]);
  const got = await kubectl(["get", subject.kind, subject.name, ...ns, "-o", "json"]);
  const conditions =
    (JSON.parse(got.stdout || "{}") as { status?: { conditions?: Condition[] } }).status?.conditions ?? [];
  const seen = `${JSON.stringify(conditions)}\n${operator.tail(10)}`;
  expect(refused.code, `${want.condition ?? ""} not False within ${STALLED_WITHIN}: ${seen}`).toBe(0);
  expect(ready.code, `the rest not Ready within ${STALLED_WITHIN}: ${seen}`).toBe(0);
  const part = conditions.find((c) => c.type === want.condition);
  expect(part?.reason).toBe(want.reason);
  expect(part?.message).toMatch(want.message);
  expect(conditions.find((c) => c.type === "Stalled")?.status).toBe("False");
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
