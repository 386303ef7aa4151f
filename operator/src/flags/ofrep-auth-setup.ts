/**
 * Wires OFREP authentication to the operator's configuration and caches: the TokenReview call
 * over a client of its own (so app traffic never takes the reconcilers' rate limit), the
 * static token file, and the squad lookup from the Namespace and Squad informers.
 */
import type { Logger } from "pino";
import type { KubeClient } from "../runtime/client.js";
import { TokenReviewResource } from "../runtime/resources.js";
import type { KubeObject, ReadStore } from "../runtime/types.js";
import { squadOwning } from "./ofrep-access.js";
import { createOfrepAuthorizer, type OfrepAuthMode, type OfrepAuthorizer } from "./ofrep-auth.js";
import { ofrepToken } from "./ofrep-token.js";
import { TokenVerifier, type ReviewToken, type TokenReviewStatus } from "./token-review.js";

export interface OfrepAuthSetup {
  mode: OfrepAuthMode;
  audience: string;
  token?: string;
  tokenFile?: string;
  tokenNamespaces?: readonly string[] | "*";
  /** A client for TokenReviews only. */
  client: Pick<KubeClient, "create">;
  namespaces: ReadStore;
  squads: ReadStore;
  /** The tribes Squads may name (`--tribes`): another tribe shares no flags. Empty: any. */
  tribes?: readonly string[];
  logger: Pick<Logger, "warn" | "info">;
}

/** A TokenReview: POST authentication.k8s.io/v1 tokenreviews, the answer in `status`. */
export function tokenReviewer(client: Pick<KubeClient, "create">): ReviewToken {
  return async (token, audiences) => {
    const review = await client.create<KubeObject & { status?: TokenReviewStatus }>(
      {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        metadata: {},
        spec: { token, audiences },
      },
      TokenReviewResource,
    );
    return review.status ?? {};
  };
}

/** The authorizer `--ofrep-auth` asks for; says at start what it protects and what it does not. */
export function setUpOfrepAuth(setup: OfrepAuthSetup): OfrepAuthorizer {
  const { mode, logger } = setup;
  const staticToken = mode === "none" ? undefined : ofrepToken({ token: setup.token, file: setup.tokenFile });
  if (mode === "none") {
    logger.warn(
      "OFREP authentication is off (--ofrep-auth=none): anyone who can reach the OFREP port reads every namespace's flags",
    );
  } else {
    logger.info(
      {
        mode,
        audience: mode === "serviceaccount" ? setup.audience : undefined,
        staticTokenNamespaces: staticToken ? setup.tokenNamespaces : undefined,
      },
      "OFREP authentication",
    );
  }
  if (staticToken && setup.tokenNamespaces === "*") {
    logger.warn("the static OFREP token reads every namespace's flags (--ofrep-token-namespaces=*)");
  }
  return createOfrepAuthorizer({
    mode,
    verifier:
      mode === "serviceaccount"
        ? new TokenVerifier({ review: tokenReviewer(setup.client), audience: setup.audience })
        : undefined,
    staticToken,
    staticTokenNamespaces: setup.tokenNamespaces,
    squadOwning: (namespace) =>
      squadOwning(
        namespace,
        setup.namespaces.get(namespace)?.metadata.labels,
        (name) => setup.squads.get(name)?.["spec"],
        setup.tribes,
      ),
  });
}
