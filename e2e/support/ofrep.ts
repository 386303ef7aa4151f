/**
 * OFREP as apps call it with the operator's default authentication (`--ofrep-auth=serviceaccount`):
 * a projected ServiceAccount token for the audience `crescendo-ofrep`, made here with the
 * TokenRequest API the kubelet uses for projected volumes.
 */
import type { EvaluationContext } from "@openfeature/server-sdk";
import type { KubeClient } from "../../operator/src/runtime/client.js";
import type { KubeObject, Resource } from "../../operator/src/runtime/types.js";

export const OFREP_AUDIENCE = "crescendo-ofrep";

const ServiceAccountResource: Resource = {
  group: "",
  version: "v1",
  kind: "ServiceAccount",
  plural: "serviceaccounts",
  namespaced: true,
};

/** TokenRequest is a subresource of the ServiceAccount: POST .../serviceaccounts/<name>/token. */
const tokenRequestFor = (serviceAccount: string): Resource => ({
  group: "",
  version: "v1",
  kind: "TokenRequest",
  plural: `serviceaccounts/${serviceAccount}/token`,
  namespaced: true,
});

/** Creates (if needed) ServiceAccount `name` in `namespace` and returns a token for `audience`. */
export async function serviceAccountToken(
  client: KubeClient,
  namespace: string,
  name = "app",
  audience = OFREP_AUDIENCE,
  expirationSeconds = 3600,
): Promise<string> {
  await client.apply(
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace } },
    ServiceAccountResource,
    { fieldManager: "crescendo-e2e", force: true },
  );
  const request = await client.create<KubeObject>(
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      metadata: { namespace },
      spec: { audiences: [audience], expirationSeconds },
    },
    tokenRequestFor(name),
  );
  return (request.status as { token: string }).token;
}

/** One token per namespace, made on first use: what each namespace's apps would mount. */
export function ofrepTokens(client: KubeClient): (namespace: string) => Promise<string> {
  const tokens = new Map<string, Promise<string>>();
  return (namespace) => {
    let token = tokens.get(namespace);
    if (!token) tokens.set(namespace, (token = serviceAccountToken(client, namespace)));
    return token;
  };
}

/** One OFREP single-flag evaluation over plain HTTP, as `token`'s bearer. */
export async function evaluateFlag(
  port: number,
  namespace: string,
  key: string,
  ctx: EvaluationContext,
  token: string | undefined,
): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/namespaces/${namespace}/ofrep/v1/evaluate/flags/${key}`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ context: ctx }),
  });
}
