/**
 * A minimal fragmented-MP4 writer for FLAC in ISOBMFF (the "FLAC in ISO Base Media File
 * Format" encapsulation: sample entry `fLaC` with a `dfLa` box holding STREAMINFO; one FLAC
 * frame = one sample), enough for a Media Source Extensions SourceBuffer
 * `audio/mp4; codecs="flac"` (style-and-layout B3 tier 1).
 *
 * Media segments carry `tfdt` (the first sample's decode time, in samples: the track's
 * timescale is its sample rate) and a `trun` with each frame's own duration and size, so a
 * short last frame is timed exactly and the next track, appended with `timestampOffset` at
 * the previous track's sample end, follows without a gap or an overlap.
 */

/** A FLAC frame as a sample: its bytes and its block size (samples per channel). */
export interface FlacSample {
  data: Uint8Array;
  samples: number;
}

function u32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

function u16(n: number): number[] {
  return [(n >>> 8) & 255, n & 255];
}

function u64(n: number): number[] {
  const hi = Math.floor(n / 2 ** 32);
  return [...u32(hi), ...u32(n >>> 0)];
}

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}

type Part = number[] | Uint8Array;

function box(type: string, ...parts: Part[]): Uint8Array {
  const len = 8 + parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(len);
  out.set([...u32(len), ...ascii(type)], 0);
  let at = 8;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function full(type: string, version: number, flags: number, ...parts: Part[]): Uint8Array {
  return box(type, [version, (flags >>> 16) & 255, (flags >>> 8) & 255, flags & 255], ...parts);
}

const MATRIX = [...u32(0x10000), ...u32(0), ...u32(0), ...u32(0), ...u32(0x10000), ...u32(0), ...u32(0), ...u32(0), ...u32(0x40000000)];

/** The 34-byte STREAMINFO block body from a FLAC header block (`fLaC` + metadata blocks).
 * Throws when the bytes do not start with `fLaC` and a STREAMINFO block. */
export function streamInfoOf(header: Uint8Array): Uint8Array {
  if (header.length < 42 || String.fromCharCode(...header.subarray(0, 4)) !== "fLaC" || ((header[4] as number) & 0x7f) !== 0) {
    throw new Error("not a FLAC header block");
  }
  return header.slice(8, 42);
}

/** STREAMINFO fields the sample entry needs. */
export function parseStreamInfo(si: Uint8Array): { sampleRate: number; channels: number; bitDepth: number } {
  const b = (i: number) => si[i] as number;
  const sampleRate = (b(10) << 12) | (b(11) << 4) | (b(12) >> 4);
  const channels = ((b(12) >> 1) & 7) + 1;
  const bitDepth = (((b(12) & 1) << 4) | (b(13) >> 4)) + 1;
  return { sampleRate, channels, bitDepth };
}

/**
 * A STREAMINFO that fits every track of one rate, channel count and bit depth: block and
 * frame size bounds widened to the format's limits, total samples and MD5 unknown. One init
 * segment built from it serves a whole gapless run, so the decoder is never reconfigured at
 * a track boundary (a config change there could cost samples).
 */
export function runStreamInfo(si: Uint8Array): Uint8Array {
  const out = si.slice();
  out.set([0, 16, 0xff, 0xff], 0); // min/max block size 16..65535
  out.set([0, 0, 0, 0, 0, 0], 4); // min/max frame size unknown
  out[13] = (out[13] as number) & 0xf0; // total samples (36 bits) unknown
  out.fill(0, 14, 18);
  out.fill(0, 18, 34); // MD5 unknown
  return out;
}

/** ftyp + moov for one FLAC track (track id 1, timescale = sample rate). */
export function initSegment(streamInfo: Uint8Array): Uint8Array {
  const { sampleRate, channels, bitDepth } = parseStreamInfo(streamInfo);
  const ftyp = box("ftyp", ascii("iso6"), u32(0), ascii("iso6"), ascii("mp41"));
  const mvhd = full("mvhd", 0, 0, u32(0), u32(0), u32(1000), u32(0), u32(0x10000), u16(0x100), u16(0), u32(0), u32(0), MATRIX, new Array(24).fill(0), u32(2));
  const tkhd = full("tkhd", 0, 3, u32(0), u32(0), u32(1), u32(0), u32(0), u32(0), u32(0), u16(0), u16(0), u16(0x100), u16(0), MATRIX, u32(0), u32(0));
  const mdhd = full("mdhd", 0, 0, u32(0), u32(0), u32(sampleRate), u32(0), u16(0x55c4), u16(0));
  const hdlr = full("hdlr", 0, 0, u32(0), ascii("soun"), u32(0), u32(0), u32(0), [0]);
  const smhd = full("smhd", 0, 0, u16(0), u16(0));
  const dinf = box("dinf", full("dref", 0, 0, u32(1), full("url ", 0, 1)));
  // dfLa: the metadata blocks, here only STREAMINFO (type 0) flagged as the last one.
  const dfla = full("dfLa", 0, 0, [0x80, 0, 0, 34], streamInfo);
  // AudioSampleEntry: the 16.16 rate field cannot hold rates above 65535 Hz; the decoder
  // reads the real rate from STREAMINFO (dfLa).
  const rate1616 = sampleRate <= 0xffff ? sampleRate * 0x10000 : 0;
  const entry = box("fLaC", new Array(6).fill(0), u16(1), u32(0), u32(0), u16(channels), u16(bitDepth), u16(0), u16(0), u32(rate1616 >>> 0), dfla);
  const stbl = box(
    "stbl",
    full("stsd", 0, 0, u32(1), entry),
    full("stts", 0, 0, u32(0)),
    full("stsc", 0, 0, u32(0)),
    full("stsz", 0, 0, u32(0), u32(0)),
    full("stco", 0, 0, u32(0)),
  );
  const trak = box("trak", tkhd, box("mdia", mdhd, hdlr, box("minf", smhd, dinf, stbl)));
  const mvex = box("mvex", full("trex", 0, 0, u32(1), u32(1), u32(0), u32(0), u32(0)));
  const moov = box("moov", mvhd, trak, mvex);
  const out = new Uint8Array(ftyp.length + moov.length);
  out.set(ftyp, 0);
  out.set(moov, ftyp.length);
  return out;
}

/** moof + mdat holding `frames`, the first decoded at `baseSample` (samples, track time). */
export function mediaSegment(seq: number, baseSample: number, frames: readonly FlacSample[]): Uint8Array {
  const entries: number[] = [];
  let bytes = 0;
  for (const f of frames) {
    entries.push(...u32(f.samples), ...u32(f.data.length));
    bytes += f.data.length;
  }
  const build = (dataOffset: number) =>
    box(
      "moof",
      full("mfhd", 0, 0, u32(seq)),
      box(
        "traf",
        full("tfhd", 0, 0x020000, u32(1)), // default-base-is-moof
        full("tfdt", 1, 0, u64(baseSample)),
        full("trun", 0, 0x000301, u32(frames.length), u32(dataOffset), entries), // data offset, duration, size
      ),
    );
  const moofLen = build(0).length;
  const moof = build(moofLen + 8);
  const out = new Uint8Array(moofLen + 8 + bytes);
  out.set(moof, 0);
  out.set([...u32(8 + bytes), ...ascii("mdat")], moofLen);
  let at = moofLen + 8;
  for (const f of frames) {
    out.set(f.data, at);
    at += f.data.length;
  }
  return out;
}

/** Total samples of a run of frames. */
export function sampleCount(frames: readonly FlacSample[]): number {
  return frames.reduce((a, f) => a + f.samples, 0);
}
