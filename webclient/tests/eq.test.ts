import { describe, expect, it } from "vitest";
import { EQ_BANDS_HZ, normaliseEq } from "../src/engine/eq";

describe("equaliser settings", () => {
  it("is off (null) when unset or flat, so the filters stay out of the graph", () => {
    expect(normaliseEq(null)).toBeNull();
    expect(normaliseEq([])).toBeNull();
    expect(normaliseEq(new Array(10).fill(0))).toBeNull();
  });
  it("clamps to ±12 dB and fills missing bands with 0", () => {
    expect(normaliseEq([20, -30, 3])).toEqual([12, -12, 3, 0, 0, 0, 0, 0, 0, 0]);
    expect(EQ_BANDS_HZ).toHaveLength(10);
  });
});
