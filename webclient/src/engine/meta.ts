/**
 * What both range-fetching tiers (Web Audio, MSE) need before the first chunk: the server's
 * seek index, the FLAC header block (bytes [0, audioOffset): `fLaC` + metadata) and the
 * format from the X-Orb headers of that first range answer. Cached per track id (8 tracks).
 *
 * Click-to-sound: the header block and the tier's first chunk from sample 0 come in ONE range
 * request (`bytes=0-<end of the first chunk>`), and that first chunk is kept (once) for the
 * tier's first fetch, so a start from 0 costs two round trips (index, then header + audio)
 * instead of three. `warm()` runs all of it ahead of a click (album opened, Play hovered or
 * focused), so the click itself waits for no request at all.
 */
import { lookup, parseSeekIndex, planChunks, type FrameChunk, type SeekIndex } from "./seekindex";
import type { Track } from "./types";

export interface StreamInfoHeaders {
  codec: string | null;
  bitDepth: number | null;
  sampleRate: number | null;
  channels: number | null;
}

export interface TrackMeta {
  ix: SeekIndex;
  header: Uint8Array;
  info: StreamInfoHeaders;
}

/** Audio bytes [byteStart, byteEnd) fetched with the header block, not yet used. */
interface Lead {
  byteStart: number;
  byteEnd: number | null;
  bytes: Uint8Array;
}

type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

const MAX_TRACKS = 8;

/** The first chunk a tier plays from sample `skip`: whole frames from the index point at or
 * before it, about `firstS` seconds (one index interval at least). */
export function firstChunk(ix: SeekIndex, skip: number, firstS: number): FrameChunk | undefined {
  return planChunks(ix, lookup(ix, skip), Math.round(ix.sampleRate * firstS))[0];
}

export class MetaCache {
  private cache = new Map<string, Promise<TrackMeta>>();
  private leads = new Map<string, Lead>();

  /** `firstS`: the tier's first-chunk length in seconds (the lead fetched with the header). */
  constructor(
    private readonly fetch: Fetch,
    private readonly firstS = 0.5,
  ) {}

  get(track: Track): Promise<TrackMeta> {
    let p = this.cache.get(track.id);
    if (!p) {
      p = this.load(track);
      p.catch(() => this.cache.delete(track.id));
      this.cache.set(track.id, p);
      if (this.cache.size > MAX_TRACKS) {
        const old = this.cache.keys().next().value as string;
        this.cache.delete(old);
        this.leads.delete(old);
      }
    }
    return p;
  }

  /** Fetch a track's meta (and its first chunk) ahead of playing it; errors are left for
   * the play itself to report. */
  warm(track: Track): void {
    if (track.seekIndexUrl) this.get(track).catch(() => {});
  }

  /** The bytes of `chunk` of `track`: the lead fetched with the header when it is exactly
   * that range (used once), else a Range request. Raises on an answer other than 206. */
  async bytes(track: Track, chunk: FrameChunk): Promise<Uint8Array> {
    const lead = this.leads.get(track.id);
    if (lead && lead.byteStart === chunk.byteStart && lead.byteEnd === chunk.byteEnd) {
      this.leads.delete(track.id);
      return lead.bytes;
    }
    const range = `bytes=${chunk.byteStart}-${chunk.byteEnd === null ? "" : chunk.byteEnd - 1}`;
    const r = await this.fetch(track.streamUrl, { headers: { Range: range } });
    if (r.status !== 206) throw new Error(`stream range: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  }

  private async load(track: Track): Promise<TrackMeta> {
    const r = await this.fetch(track.seekIndexUrl as string);
    if (!r.ok) throw new Error(`seek index: HTTP ${r.status}`);
    const ix = parseSeekIndex(await r.arrayBuffer());
    const first = firstChunk(ix, 0, this.firstS);
    // The header and the first chunk are contiguous (the first index point is the first frame).
    const withLead = !!first && first.byteStart === ix.audioOffset;
    const end = withLead ? first.byteEnd : ix.audioOffset;
    const h = await this.fetch(track.streamUrl, { headers: { Range: `bytes=0-${end === null ? "" : end - 1}` } });
    if (!h.ok) throw new Error(`stream: HTTP ${h.status}`);
    const all = new Uint8Array(await h.arrayBuffer());
    const header = all.slice(0, ix.audioOffset);
    if (withLead && h.status === 206 && all.length > ix.audioOffset) {
      this.leads.set(track.id, { byteStart: first.byteStart, byteEnd: first.byteEnd, bytes: all.subarray(ix.audioOffset, end ?? all.length) });
    }
    const num = (k: string) => {
      const v = h.headers.get(k);
      return v === null || v === "" ? null : Number(v);
    };
    const info: StreamInfoHeaders = {
      codec: h.headers.get("X-Orb-Codec") ?? track.codec,
      bitDepth: num("X-Orb-Bit-Depth") ?? track.bitDepth,
      sampleRate: num("X-Orb-Sample-Rate") ?? track.sampleRate,
      channels: num("X-Orb-Channels") ?? track.channels,
    };
    return { ix, header, info };
  }
}
