/**
 * The server's FLAC seek index (docs/native-api.md "Streaming", `GET /tracks/{id}/seek-index`):
 * little-endian `b"ORBSEEK1"`, u32 version (1), u32 sampleRate, u64 totalSamples,
 * u64 audioOffset (byte of the first frame), u32 count, then count × (u64 firstSample,
 * u64 byteOffset) of frame starts about every 0.5–1 s.
 */

export interface SeekPoint {
  /** First sample of the frame (per channel). */
  sample: number;
  /** Byte offset of the frame in the file. */
  byte: number;
}

export interface SeekIndex {
  sampleRate: number;
  totalSamples: number;
  audioOffset: number;
  points: SeekPoint[];
}

const MAGIC = "ORBSEEK1";
const HEADER = 8 + 4 + 4 + 8 + 8 + 4;

export class SeekIndexError extends Error {}

function u64(view: DataView, at: number): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new SeekIndexError(`u64 at ${at} out of range`);
  return Number(v);
}

/** Parse an index. Raises SeekIndexError on a bad magic, version, truncation, or points that
 * are not strictly increasing in sample and byte. */
export function parseSeekIndex(buf: ArrayBuffer): SeekIndex {
  if (buf.byteLength < HEADER) throw new SeekIndexError("seek index truncated");
  const view = new DataView(buf);
  let magic = "";
  for (let i = 0; i < 8; i++) magic += String.fromCharCode(view.getUint8(i));
  if (magic !== MAGIC) throw new SeekIndexError("not an ORBSEEK1 index");
  const version = view.getUint32(8, true);
  if (version !== 1) throw new SeekIndexError(`unsupported seek index version ${version}`);
  const sampleRate = view.getUint32(12, true);
  const totalSamples = u64(view, 16);
  const audioOffset = u64(view, 24);
  const count = view.getUint32(32, true);
  if (buf.byteLength < HEADER + count * 16) throw new SeekIndexError("seek index truncated");
  if (sampleRate === 0) throw new SeekIndexError("sample rate 0");
  const points: SeekPoint[] = new Array(count);
  let prev: SeekPoint | null = null;
  for (let i = 0; i < count; i++) {
    const p = { sample: u64(view, HEADER + i * 16), byte: u64(view, HEADER + i * 16 + 8) };
    if (prev && (p.sample <= prev.sample || p.byte <= prev.byte)) {
      throw new SeekIndexError(`seek point ${i} not increasing`);
    }
    points[i] = p;
    prev = p;
  }
  return { sampleRate, totalSamples, audioOffset, points };
}

/** Encode an index (tests and fixtures; the inverse of parseSeekIndex). */
export function encodeSeekIndex(ix: SeekIndex): ArrayBuffer {
  const buf = new ArrayBuffer(HEADER + ix.points.length * 16);
  const view = new DataView(buf);
  for (let i = 0; i < 8; i++) view.setUint8(i, MAGIC.charCodeAt(i));
  view.setUint32(8, 1, true);
  view.setUint32(12, ix.sampleRate, true);
  view.setBigUint64(16, BigInt(ix.totalSamples), true);
  view.setBigUint64(24, BigInt(ix.audioOffset), true);
  view.setUint32(32, ix.points.length, true);
  ix.points.forEach((p, i) => {
    view.setBigUint64(HEADER + i * 16, BigInt(p.sample), true);
    view.setBigUint64(HEADER + i * 16 + 8, BigInt(p.byte), true);
  });
  return buf;
}

/** Index of the last point whose sample is ≤ `sample` (binary search); 0 when `sample`
 * precedes every point, -1 for an empty index. */
export function lookup(ix: SeekIndex, sample: number): number {
  const pts = ix.points;
  if (pts.length === 0) return -1;
  let lo = 0;
  let hi = pts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((pts[mid] as SeekPoint).sample <= sample) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** A byte range of whole frames to fetch: [byteStart, byteEnd) holding samples
 * [firstSample, firstSample + samples). byteEnd null = to the end of the file. */
export interface FrameChunk {
  byteStart: number;
  byteEnd: number | null;
  firstSample: number;
  samples: number;
}

/** Split the audio from point `from` onward into chunks of about `targetSamples` each,
 * cut only at indexed frame starts (so each chunk decodes on its own after the header). */
export function planChunks(ix: SeekIndex, from: number, targetSamples: number): FrameChunk[] {
  const pts = ix.points;
  const out: FrameChunk[] = [];
  let i = Math.max(0, from);
  while (i < pts.length) {
    const start = pts[i] as SeekPoint;
    let j = i + 1;
    while (j < pts.length && (pts[j] as SeekPoint).sample - start.sample < targetSamples) j++;
    const end = pts[j];
    out.push({
      byteStart: start.byte,
      byteEnd: end ? end.byte : null,
      firstSample: start.sample,
      samples: (end ? end.sample : ix.totalSamples) - start.sample,
    });
    i = j;
  }
  return out;
}
