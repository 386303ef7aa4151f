/**
 * Which Prometheus servers the operator may ask. Anyone who may edit a Release names an address
 * the operator then fetches from inside the cluster, so the set is the platform's decision:
 * the operator's allowlist (`--allowed-prometheus-addresses`, the chart's
 * `analysis.allowedPrometheusAddresses`) plus the addresses of the Release's own Squad's
 * `delivery` (Squads are cluster-scoped, written by the platform team, not by squad members).
 *
 * Addresses are compared in canonical form (`canonicalPrometheusAddress`): case, default ports,
 * numeric IPv4 spellings, IPv6 zero-compression and trailing slashes cannot tell an address from
 * an allowed one, and a path is part of the address (an allowed `http://thanos/tenant-a` does
 * not allow `http://thanos/tenant-b`). Pure: no I/O, unit-tested exhaustively.
 */
import type { AnalysisMetric } from "../api/analysis.js";
import { canonicalPrometheusAddress, prometheusAddressProblem } from "../api/prometheus-address.js";
import type { SquadSpec } from "../api/squad.js";

export class PrometheusAllowlist {
  private constructor(
    private readonly allowed: ReadonlySet<string>,
    /** The entries as configured, for the start-up log. */
    readonly entries: readonly string[],
  ) {}

  /**
   * The operator's allowlist.
   * @throws Error naming the entry when one is not an acceptable address: a typo in the
   *   allowlist is a configuration error the operator refuses to start with, not an entry that
   *   silently matches nothing.
   */
  static of(entries: readonly string[]): PrometheusAllowlist {
    const allowed = new Set<string>();
    for (const entry of entries) {
      const canonical = canonicalPrometheusAddress(entry);
      if (canonical === undefined) {
        throw new Error(
          `allowed Prometheus address ${JSON.stringify(entry)} ${prometheusAddressProblem(entry)}`,
        );
      }
      allowed.add(canonical);
    }
    return new PrometheusAllowlist(allowed, [...entries]);
  }

  /** `address` is allowed by the operator's list or is one of `alsoAllowed` (a Squad's). */
  allows(address: string, alsoAllowed: readonly string[] = []): boolean {
    const canonical = canonicalPrometheusAddress(address);
    if (canonical === undefined) return false;
    if (this.allowed.has(canonical)) return true;
    return alsoAllowed.some((other) => canonicalPrometheusAddress(other) === canonical);
  }
}

/** Every address a Squad's `delivery` names: its default and those of its default metrics. */
export function squadDeliveryAddresses(squad: SquadSpec | undefined): string[] {
  const delivery = squad?.delivery;
  if (!delivery) return [];
  const addresses = (delivery.metrics ?? []).flatMap((m) => m.prometheus.address ?? []);
  if (delivery.prometheus) addresses.unshift(delivery.prometheus.address);
  return addresses;
}

/** A metric address the operator must not ask, with the field that names it. */
export interface RefusedAddress {
  /** e.g. `spec.analysis.metrics[2].prometheus.address` */
  field: string;
  address: string;
}

/**
 * The addresses among a Release's metrics the operator may not ask. `metrics` is the Release's
 * analysis metrics in spec order, the squad's default metrics appended after its own (as
 * `withSquadDefaults` merges them): those carry the squad's addresses, which are allowed, so
 * every refusal names an index of the Release's own `spec.analysis.metrics`. A metric without an
 * address uses the squad's `delivery.prometheus.address`, which is allowed by definition.
 */
export function refusedPrometheusAddresses(
  metrics: readonly AnalysisMetric[],
  squad: SquadSpec | undefined,
  allowlist: PrometheusAllowlist,
): RefusedAddress[] {
  const squadAddresses = squadDeliveryAddresses(squad);
  const refused: RefusedAddress[] = [];
  metrics.forEach((metric, index) => {
    const address = metric.prometheus.address;
    if (address === undefined || allowlist.allows(address, squadAddresses)) return;
    refused.push({ field: `spec.analysis.metrics[${index}].prometheus.address`, address });
  });
  return refused;
}

/** The Stalled message for refused addresses: each field, its address, and how to allow it. */
export function refusedAddressesMessage(refused: readonly RefusedAddress[]): string {
  const list = refused.map((r) => `${r.field} ${JSON.stringify(r.address)}`).join(", ");
  return `${list}: not an allowed Prometheus address; no query was sent. Use an address from the operator's allowlist (analysis.allowedPrometheusAddresses) or the squad's delivery.prometheus.address`;
}
