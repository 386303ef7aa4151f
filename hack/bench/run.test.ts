import { describe, expect, it } from "vitest";
import { median, quantile, spread } from "./run.js";

describe("benchmark statistics", () => {
  it("takes quantiles by nearest rank: always an observed value", () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(quantile(xs, 0)).toBe(1);
    expect(quantile(xs, 0.5)).toBe(5);
    expect(quantile(xs, 0.95)).toBe(10);
    expect(quantile(xs, 1)).toBe(10);
    expect(quantile([42], 0.95)).toBe(42);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it("gives min, median, p95 and max, rounded", () => {
    expect(spread([1.4, 2.6, 3.5, 100.2])).toEqual({ min: 1, p50: 3, p95: 100, max: 100 });
    expect(median([1, 2, 3, 4])).toBe(2.5);
  });
});
