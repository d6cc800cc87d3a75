import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { encodeSeekIndex, lookup, parseSeekIndex, planChunks, SeekIndexError, type SeekIndex } from "../src/engine/seekindex";

function index(n: number, step = 4096, rate = 44100): SeekIndex {
  return {
    sampleRate: rate, totalSamples: n * step + 100, audioOffset: 8342,
    points: Array.from({ length: n }, (_, i) => ({ sample: i * step, byte: 8342 + i * 9000 + (i * i) % 7 })),
  };
}

describe("seek index", () => {
  it("round-trips the binary format from docs/native-api.md", () => {
    const ix = index(50);
    const buf = encodeSeekIndex(ix);
    expect(buf.byteLength).toBe(36 + 50 * 16);
    expect(new TextDecoder().decode(new Uint8Array(buf, 0, 8))).toBe("ORBSEEK1");
    expect(parseSeekIndex(buf)).toEqual(ix);
  });

  it("parses a hand-built little-endian buffer", () => {
    const b = new Uint8Array(36 + 16);
    b.set(new TextEncoder().encode("ORBSEEK1"));
    const v = new DataView(b.buffer);
    v.setUint32(8, 1, true);
    v.setUint32(12, 96000, true);
    v.setBigUint64(16, 960000n, true);
    v.setBigUint64(24, 42n, true);
    v.setUint32(32, 1, true);
    v.setBigUint64(36, 0n, true);
    v.setBigUint64(44, 42n, true);
    expect(parseSeekIndex(b.buffer)).toEqual({ sampleRate: 96000, totalSamples: 960000, audioOffset: 42, points: [{ sample: 0, byte: 42 }] });
  });

  it("rejects bad magic, version, truncation and disorder", () => {
    const good = encodeSeekIndex(index(3));
    const bad = (f: (v: DataView) => void, len = good.byteLength) => {
      const copy = good.slice(0, len);
      f(new DataView(copy));
      return () => parseSeekIndex(copy);
    };
    expect(bad((v) => v.setUint8(0, 0x41))).toThrow(SeekIndexError);
    expect(bad((v) => v.setUint32(8, 2, true))).toThrow(/version/);
    expect(bad(() => {}, good.byteLength - 1)).toThrow(/truncated/);
    expect(bad((v) => v.setBigUint64(36 + 16, 0n, true))).toThrow(/increasing/);
  });

  it("lookup finds the last point at or before a sample", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 2_000_000 }), (n, s) => {
        const ix = index(n);
        const i = lookup(ix, s);
        expect(i).toBeGreaterThanOrEqual(0);
        const p = ix.points[i]!;
        if (s >= ix.points[0]!.sample) expect(p.sample).toBeLessThanOrEqual(s);
        const after = ix.points[i + 1];
        if (after) expect(after.sample).toBeGreaterThan(s);
        // brute-force oracle
        let want = 0;
        ix.points.forEach((q, k) => { if (q.sample <= s) want = k; });
        expect(i).toBe(want);
      }),
    );
    expect(lookup({ ...index(0) }, 5)).toBe(-1);
  });

  it("plans contiguous chunks cut at indexed frames that cover the rest of the track", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 199 }), fc.integer({ min: 1, max: 100_000 }), (n, from, target) => {
        const ix = index(n);
        from = Math.min(from, n - 1);
        const chunks = planChunks(ix, from, target);
        expect(chunks[0]!.firstSample).toBe(ix.points[from]!.sample);
        let at = ix.points[from]!.sample;
        chunks.forEach((c, k) => {
          expect(c.firstSample).toBe(at);
          at += c.samples;
          const next = chunks[k + 1];
          if (next) expect(c.byteEnd).toBe(next.byteStart);
          else expect(c.byteEnd).toBeNull();
        });
        expect(at).toBe(ix.totalSamples);
      }),
    );
  });
});
