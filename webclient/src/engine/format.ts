/**
 * What the browser plays natively and which engine tier a track goes to.
 * - FLAC with a seek index → the Web Audio tier (range-fetched chunks, sample-accurate,
 *   gapless) when Web Audio exists;
 * - other browser-playable formats → plain `<audio>` (near-gapless handoff);
 * - ALAC/APE/WavPack (browserPlayable false, or canPlayType says "") → `?as=flac`, the
 *   server's lossless conversion, played by `<audio>` (a conversion has no Range at first).
 */
import type { Track } from "./types";

export type Tier = "mse" | "webaudio" | "html5";

/** What the browser offers the range-fetching tiers. */
export interface Capabilities {
  /** An AudioContext exists. */
  webAudio: boolean;
  /** MediaSource takes `audio/mp4; codecs="flac"`. */
  mseFlac?: boolean;
  /** A tier forced by a setting or the `?tier=` URL flag (tests force each); a forced tier
   * the track cannot use falls back to the automatic choice. */
  force?: Tier | null;
  /** Crossfade is on: FLAC goes to the Web Audio tier, the one that can overlap two tracks
   * (the MSE tier has one element and one timeline). */
  crossfade?: boolean;
}

export interface PlayPlan {
  tier: Tier;
  /** The URL to fetch or to set as `src` (token appended by the caller). */
  url: string;
  /** True when the server converts (?as=flac). */
  converted: boolean;
  mime: string;
}

const MIME: Record<string, string> = {
  flac: "audio/flac",
  mp3: "audio/mpeg",
  aac: "audio/mp4",
  m4a: "audio/mp4",
  mp4: "audio/mp4",
  opus: 'audio/ogg; codecs="opus"',
  ogg: 'audio/ogg; codecs="vorbis"',
  vorbis: 'audio/ogg; codecs="vorbis"',
  wav: "audio/wav",
  pcm: "audio/wav",
  aiff: "audio/aiff",
  alac: 'audio/mp4; codecs="alac"',
  ape: "audio/ape",
  wavpack: "audio/wavpack",
  wv: "audio/wavpack",
};

/** The MIME type to probe for a codec or suffix (lower-case), or null when unknown. */
export function mimeFor(codec: string | null, container: string | null): string | null {
  const c = (codec ?? "").toLowerCase();
  const s = (container ?? "").toLowerCase();
  return MIME[c] ?? MIME[s] ?? null;
}

const ALWAYS_CONVERT = new Set(["alac", "ape", "wavpack", "wv"]);

/** Choose the tier and URL. `canPlay(mime)` is `audio.canPlayType` (returns "", "maybe" or
 * "probably"); `caps` says what the browser has (a bare boolean: Web Audio only). FLAC with a
 * seek index goes to MSE when it takes FLAC in fMP4, else to Web Audio. */
export function planPlayback(track: Track, canPlay: (mime: string) => string, caps: boolean | Capabilities): PlayPlan {
  const c: Capabilities = typeof caps === "boolean" ? { webAudio: caps } : caps;
  const webAudio = c.webAudio;
  const codec = (track.codec ?? track.container ?? "").toLowerCase();
  const mime = mimeFor(track.codec, track.container) ?? track.contentType ?? "application/octet-stream";
  const native = canPlay(mime) !== "";
  const convert = !track.browserPlayable || ALWAYS_CONVERT.has(codec) || !native;
  if (convert) {
    return { tier: "html5", url: withParam(track.streamUrl, "as", "flac"), converted: true, mime: "audio/flac" };
  }
  if (codec === "flac" && track.seekIndexUrl && webAudio && track.totalSamples && track.sampleRate) {
    const mse = !!c.mseFlac && !c.crossfade;
    let tier: Tier = mse ? "mse" : "webaudio";
    if (c.force === "html5" || c.force === "webaudio" || (c.force === "mse" && mse)) tier = c.force;
    return { tier, url: track.streamUrl, converted: false, mime };
  }
  return { tier: "html5", url: track.streamUrl, converted: false, mime };
}

/** Append a query parameter to a (relative or absolute) URL. */
export function withParam(url: string, key: string, value: string): string {
  return url + (url.includes("?") ? "&" : "?") + encodeURIComponent(key) + "=" + encodeURIComponent(value);
}

/** The badge text, e.g. "FLAC · 24 bit · 96 kHz" (from the X-Orb headers or the Track). */
export function formatBadge(codec: string | null, bitDepth: number | null, sampleRate: number | null): string {
  const parts: string[] = [];
  if (codec) parts.push(codec.toUpperCase());
  if (bitDepth) parts.push(`${bitDepth} bit`);
  if (sampleRate) {
    const k = sampleRate / 1000;
    parts.push(`${Number.isInteger(k) ? k : k.toFixed(1)} kHz`);
  }
  return parts.join(" · ");
}
