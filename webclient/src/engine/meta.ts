/**
 * What both range-fetching tiers (Web Audio, MSE) need before the first chunk: the server's
 * seek index, the FLAC header block (bytes [0, audioOffset): `fLaC` + metadata) and the
 * format from the X-Orb headers of that first range answer. Cached per track id (8 tracks).
 */
import { parseSeekIndex, type SeekIndex } from "./seekindex";
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

type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

export class MetaCache {
  private cache = new Map<string, Promise<TrackMeta>>();

  constructor(private readonly fetch: Fetch) {}

  get(track: Track): Promise<TrackMeta> {
    let p = this.cache.get(track.id);
    if (!p) {
      p = load(this.fetch, track);
      p.catch(() => this.cache.delete(track.id));
      this.cache.set(track.id, p);
      if (this.cache.size > 8) this.cache.delete(this.cache.keys().next().value as string);
    }
    return p;
  }
}

async function load(fetch: Fetch, track: Track): Promise<TrackMeta> {
  const r = await fetch(track.seekIndexUrl as string);
  if (!r.ok) throw new Error(`seek index: HTTP ${r.status}`);
  const ix = parseSeekIndex(await r.arrayBuffer());
  const h = await fetch(track.streamUrl, { headers: { Range: `bytes=0-${ix.audioOffset - 1}` } });
  if (!h.ok) throw new Error(`stream: HTTP ${h.status}`);
  let header = new Uint8Array(await h.arrayBuffer());
  if (h.status === 200) header = header.slice(0, ix.audioOffset);
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
