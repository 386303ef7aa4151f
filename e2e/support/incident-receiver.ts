/**
 * An operator serving its Alertmanager receiver (a token file in a temp dir, a free port), for
 * e2e tests that POST to it, and Squads with an `incidentResponse` whose namespaces they wait for.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SquadResource } from "../../operator/src/api/kinds.js";
import type { KubeClient } from "../../operator/src/runtime/client.js";
import { NamespaceResource } from "../../operator/src/runtime/resources.js";
import type { KubeObject } from "../../operator/src/runtime/types.js";
import { kubeconfigPath, waitFor } from "./kube.js";
import { freePort, OperatorProcess } from "./operator.js";

export interface ReceiverOperator {
  operator: OperatorProcess;
  url: string;
  token: string;
  /** A directory of the test's own, removed by `stop`. */
  dir: string;
  stop(): Promise<void>;
}

export async function startReceiverOperator(name: string): Promise<ReceiverOperator> {
  const token = randomBytes(24).toString("hex");
  const dir = mkdtempSync(join(tmpdir(), `crescendo-${name}-`));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const port = await freePort();
  const operator = await OperatorProcess.start({
    kubeconfig: kubeconfigPath(),
    name,
    args: ["--incident-port", String(port), "--incident-token-file", tokenFile],
  });
  return {
    operator,
    url: `http://127.0.0.1:${port}/alertmanager`,
    token,
    dir,
    async stop() {
      await operator.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Applies each Squad (one namespace each, the policy given) and waits for its namespace. */
export async function applyIncidentSquads(
  client: KubeClient,
  squads: readonly { squad: string; ns: string }[],
  incidentResponse: unknown,
  fieldManager: string,
  context?: () => Promise<string> | string,
): Promise<void> {
  for (const s of squads) {
    await client.apply(
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Squad",
        metadata: { name: s.squad },
        spec: { namespaces: [{ name: s.ns }], incidentResponse },
      },
      SquadResource,
      { fieldManager, force: true },
    );
  }
  for (const s of squads) {
    await waitFor(
      `namespace ${s.ns} of squad ${s.squad}`,
      () => client.get<KubeObject>(NamespaceResource, s.ns),
      (n) => n?.metadata.labels?.["crescendo.dev/squad"] === s.squad,
      { timeoutMs: 60_000, ...(context ? { context } : {}) },
    );
  }
}
