import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { equalPowerCurve, gainsAt, planCrossfade } from "../src/engine/crossfade";

describe("crossfade arithmetic", () => {
  it("off (0 s) is a plain gapless join at the end frame", () => {
    expect(planCrossfade(441000, 44100, 0, 441000, 441000)).toEqual({ nextOrigin: 441000, frames: 0 });
  });

  it("the next track starts `seconds` before the end, on an exact frame", () => {
    expect(planCrossfade(1_000_000, 44100, 3, 900_000, 900_000)).toEqual({ nextOrigin: 1_000_000 - 132300, frames: 132300 });
    expect(planCrossfade(500_000, 96000, 2.5, 480_000, 480_000)).toEqual({ nextOrigin: 260_000, frames: 240_000 });
  });

  it("never longer than half of either track, nor starting in the past", () => {
    // a 4 s track with a 10 s setting fades 2 s
    expect(planCrossfade(400_000, 44100, 10, 176_400, 1e7).frames).toBe(88_200);
    expect(planCrossfade(400_000, 44100, 10, 1e7, 44_100).frames).toBe(22_050);
    // 1 s before the end with a 5 s setting: fades the 1 s left
    expect(planCrossfade(400_000, 44100, 5, 1e7, 1e7, 400_000 - 44_100)).toEqual({ nextOrigin: 400_000 - 44_100, frames: 44_100 });
    // already at the end: a plain join
    expect(planCrossfade(400_000, 44100, 5, 1e7, 1e7, 400_001).frames).toBe(0);
  });

  it("property: the fade ends exactly at the end frame and fits both tracks", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e9 }), fc.constantFrom(44100, 48000, 96000, 192000),
        fc.double({ min: 0, max: 12, noNaN: true }), fc.integer({ min: 1, max: 1e8 }), fc.integer({ min: 1, max: 1e8 }),
        (end, rate, s, cur, nxt) => {
          const p = planCrossfade(end, rate, s, cur, nxt);
          expect(Number.isInteger(p.nextOrigin) && Number.isInteger(p.frames)).toBe(true);
          expect(p.nextOrigin + p.frames).toBe(end);
          expect(p.frames).toBeGreaterThanOrEqual(0);
          expect(p.frames).toBeLessThanOrEqual(Math.min(Math.round(s * rate), cur / 2, nxt / 2));
        },
      ),
    );
  });

  it("equal power: out² + in² = 1 along the curve, exact end points", () => {
    const n = 257;
    const o = equalPowerCurve(n, "out");
    const i = equalPowerCurve(n, "in");
    expect([o[0], o[n - 1], i[0], i[n - 1]]).toEqual([1, 0, 0, 1]);
    for (let k = 0; k < n; k++) expect((o[k] as number) ** 2 + (i[k] as number) ** 2).toBeCloseTo(1, 6);
    // monotonic both ways, and -3 dB each at the midpoint
    for (let k = 1; k < n; k++) expect(o[k] as number).toBeLessThanOrEqual(o[k - 1] as number);
    expect(o[128] as number).toBeCloseTo(Math.SQRT1_2, 6);
    expect(gainsAt(150, 100, 100)).toEqual([Math.cos(Math.PI / 4), Math.sin(Math.PI / 4)]);
    expect(gainsAt(0, 100, 100)).toEqual([1, 0]);
    expect(gainsAt(999, 100, 100)[1]).toBe(1);
  });
});
