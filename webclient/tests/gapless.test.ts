import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { chunkSchedule, joinable, positionAt, startSamples, timestampOffset } from "../src/engine/gapless";

describe("gapless arithmetic", () => {
  it("each track starts at the exact sample end of the previous one", () => {
    const tracks = [
      { totalSamples: 441000, sampleRate: 44100, channels: 2 },
      { totalSamples: 123457, sampleRate: 44100, channels: 2 },
      { totalSamples: 99, sampleRate: 44100, channels: 2 },
    ];
    expect(startSamples(tracks)).toEqual([0, 441000, 564457]);
    expect(timestampOffset(tracks, 1)).toBe(10);
    expect(timestampOffset(tracks, 2)).toBeCloseTo(564457 / 44100, 12);
  });

  it("joins only equal rate and channel count", () => {
    expect(joinable({ totalSamples: 1, sampleRate: 44100, channels: 2 }, { totalSamples: 1, sampleRate: 44100, channels: 2 })).toBe(true);
    expect(joinable({ totalSamples: 1, sampleRate: 44100, channels: 2 }, { totalSamples: 1, sampleRate: 96000, channels: 2 })).toBe(false);
    expect(joinable({ totalSamples: 1, sampleRate: 44100, channels: 2 }, { totalSamples: 1, sampleRate: 44100, channels: 1 })).toBe(false);
  });

  it("back-to-back chunks leave neither a gap nor an overlap, in samples", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 20 }),
        fc.constantFrom(44100, 48000, 88200, 96000, 192000),
        fc.integer({ min: 0, max: 10_000 }),
        (lens, rate, skip) => {
          let first = 0;
          let end: number | null = null;
          const origin = 3.25;
          for (const len of lens) {
            const s = chunkSchedule(origin, rate, 1_000_000, first, len, skip);
            if (s) {
              const startSample = Math.round((s.when - origin) * rate);
              if (end !== null) expect(startSample).toBe(end);
              else expect(startSample).toBe(1_000_000 + Math.max(first, skip));
              end = startSample + Math.round(s.duration * rate);
              expect(Math.round(s.offset * rate)).toBe(Math.max(0, skip - first));
            }
            first += len;
          }
          const total = lens.reduce((a, b) => a + b, 0);
          if (skip < total) expect(end).toBe(1_000_000 + total);
          else expect(end).toBeNull();
        },
      ),
    );
  });

  it("positionAt inverts the schedule and clamps to the track", () => {
    expect(positionAt(3.25 + 1, 3.25, 44100, 0, 441000)).toBe(44100);
    expect(positionAt(0, 3.25, 44100, 0, 441000)).toBe(0);
    expect(positionAt(1000, 3.25, 44100, 0, 441000)).toBe(441000);
  });
});
