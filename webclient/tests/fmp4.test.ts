import { describe, expect, it } from "vitest";
import { initSegment, mediaSegment, parseStreamInfo, runStreamInfo, streamInfoOf } from "../src/engine/fmp4";

/** STREAMINFO for rate/channels/bits with `total` samples. */
function streamInfo(rate: number, channels: number, bits: number, total: number): Uint8Array {
  const si = new Uint8Array(34);
  si.set([0x10, 0x00, 0x10, 0x00], 0); // 4096..4096
  si[10] = rate >> 12;
  si[11] = (rate >> 4) & 255;
  si[12] = ((rate & 15) << 4) | ((channels - 1) << 1) | ((bits - 1) >> 4);
  si[13] = (((bits - 1) & 15) << 4) | Math.floor(total / 2 ** 32);
  new DataView(si.buffer).setUint32(14, total >>> 0);
  si.fill(0xab, 18);
  return si;
}

/** Top-level and nested boxes: [type, offset, size]. */
function boxes(b: Uint8Array, from = 0, to = b.length): [string, number, number][] {
  const v = new DataView(b.buffer, b.byteOffset);
  const out: [string, number, number][] = [];
  for (let at = from; at < to; ) {
    const size = v.getUint32(at);
    out.push([String.fromCharCode(...b.subarray(at + 4, at + 8)), at, size]);
    expect(size).toBeGreaterThanOrEqual(8);
    at += size;
  }
  return out;
}

describe("fMP4 for FLAC", () => {
  it("reads rate, channels and depth from STREAMINFO (96 kHz does not fit 16.16)", () => {
    expect(parseStreamInfo(streamInfo(96000, 2, 24, 480000))).toEqual({ sampleRate: 96000, channels: 2, bitDepth: 24 });
    expect(parseStreamInfo(streamInfo(44100, 1, 16, 1))).toEqual({ sampleRate: 44100, channels: 1, bitDepth: 16 });
  });

  it("a run's STREAMINFO keeps the format and drops the per-file fields", () => {
    const si = streamInfo(96000, 2, 24, 480000);
    const run = runStreamInfo(si);
    expect(parseStreamInfo(run)).toEqual(parseStreamInfo(si));
    expect([...run.subarray(14, 34)].every((x) => x === 0)).toBe(true);
    expect((run[13] as number) & 15).toBe(0);
    expect([run[2], run[3]]).toEqual([0xff, 0xff]);
  });

  it("takes STREAMINFO from a FLAC header block, refuses anything else", () => {
    const si = streamInfo(44100, 2, 16, 1000);
    const head = new Uint8Array([0x66, 0x4c, 0x61, 0x43, 0x80, 0, 0, 34, ...si]);
    expect(streamInfoOf(head)).toEqual(si);
    expect(() => streamInfoOf(new Uint8Array(42))).toThrow();
  });

  it("init segment: ftyp + moov, the timescale is the sample rate, dfLa holds STREAMINFO", () => {
    const si = streamInfo(96000, 2, 24, 480000);
    const init = initSegment(si);
    expect(boxes(init).map((b) => b[0])).toEqual(["ftyp", "moov"]);
    const text = String.fromCharCode(...init);
    const mdhd = text.indexOf("mdhd");
    expect(new DataView(init.buffer).getUint32(mdhd + 4 + 4 + 8)).toBe(96000);
    const dfla = text.indexOf("dfLa");
    expect([...init.subarray(dfla + 8, dfla + 12)]).toEqual([0x80, 0, 0, 34]);
    expect(init.subarray(dfla + 12, dfla + 46)).toEqual(si);
  });

  it("media segment: tfdt is the first sample, trun has each frame's duration and size, data offset points into mdat", () => {
    const frames = [
      { data: new Uint8Array([1, 2, 3]), samples: 4096 },
      { data: new Uint8Array([4, 5]), samples: 1229 },
    ];
    const seg = mediaSegment(7, 2 ** 33 + 5, frames);
    const top = boxes(seg);
    expect(top.map((b) => b[0])).toEqual(["moof", "mdat"]);
    const v = new DataView(seg.buffer);
    const text = String.fromCharCode(...seg);
    const tfdt = text.indexOf("tfdt") - 4;
    expect(seg[tfdt + 8]).toBe(1); // version 1: 64-bit time
    expect(Number(v.getBigUint64(tfdt + 12))).toBe(2 ** 33 + 5);
    const trun = text.indexOf("trun") - 4;
    expect(v.getUint32(trun + 12)).toBe(2);
    const dataOffset = v.getUint32(trun + 16);
    expect(dataOffset).toBe((top[1] as [string, number, number])[1] + 8);
    expect([v.getUint32(trun + 20), v.getUint32(trun + 24), v.getUint32(trun + 28), v.getUint32(trun + 32)]).toEqual([4096, 3, 1229, 2]);
    expect([...seg.subarray(dataOffset)]).toEqual([1, 2, 3, 4, 5]);
  });
});
