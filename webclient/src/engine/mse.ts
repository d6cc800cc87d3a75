/**
 * Tier 1 of style-and-layout B3: Media Source Extensions. One `<audio>` element fed by a
 * MediaSource with one SourceBuffer `audio/mp4; codecs="flac"`; the browser's own decoder
 * runs the file at its own rate and bit depth (24/192 too), and only compressed bytes are
 * buffered.
 *
 * - FLAC is fetched in Range chunks cut at seek-index frame starts, split into frames by
 *   codec-parser and wrapped into fMP4 fragments (fmp4.ts) whose `tfdt` is the chunk's first
 *   sample, so no server remux is needed.
 * - Gapless: tracks of one rate, channel count and bit depth share one init segment; the
 *   next track is appended with `timestampOffset` at the previous one's exact sample end and
 *   `appendWindowStart/End` around its own samples (gapless.ts timestampOffset).
 * - Exact seeks: a new MediaSource, the chunk from the index point at or before the target,
 *   `appendWindowStart` at the target (the browser trims the partial frame), currentTime set.
 * - Bounded memory: at most LOOKAHEAD_S ahead is appended, and played ranges older than
 *   KEEP_BEHIND_S are removed (SourceBuffer.remove), so a 2-hour file holds about a minute.
 *
 * This module (with codec-parser) is its own chunk, imported only when the tier is used.
 */
import CodecParser from "codec-parser";
import { Equaliser } from "./eq";
import { initSegment, mediaSegment, runStreamInfo, streamInfoOf, type FlacSample } from "./fmp4";
import { MetaCache, firstChunk, type StreamInfoHeaders, type TrackMeta } from "./meta";
import { lookup, planChunks, type FrameChunk } from "./seekindex";
import type { Track } from "./types";
import type { TierDeps } from "./webaudio";

export const MSE_FLAC = 'audio/mp4; codecs="flac"';

/** Whether this browser's MSE takes FLAC in fMP4 (Chromium, Firefox; Safari is left on the
 * Web Audio tier, style-and-layout B3 risks). */
export function mseFlacSupported(): boolean {
  const MS = (globalThis as { MediaSource?: typeof MediaSource }).MediaSource;
  return !!MS && typeof MS.isTypeSupported === "function" && MS.isTypeSupported(MSE_FLAC);
}

interface Seg {
  track: Track;
  meta: TrackMeta;
  rate: number;
  /** Timeline second (MediaSource time) of the track's sample 0. */
  start: number;
  /** Samples before this one are trimmed (a seek target). */
  skip: number;
  chunks: FrameChunk[];
  next: number;
}

const LOOKAHEAD_S = 30;
const KEEP_BEHIND_S = 10;
const FIRST_CHUNK_S = 0.5;
const CHUNK_S = 8;

export interface BufferStats {
  /** Compressed bytes appended and not yet removed. */
  bytes: number;
  /** Seconds held in the SourceBuffer (sum of the buffered ranges). */
  seconds: number;
  /** Bytes fetched since the tier was created. */
  fetched: number;
}

export class MseTier {
  readonly kind = "mse" as const;
  readonly decoderKind = "mse";
  readonly decodedBitDepth = null;
  onended: () => void = () => {};
  ontrackchange: (t: Track, info: StreamInfoHeaders) => void = () => {};
  onerror: (e: unknown) => void = () => {};
  /** The optional equaliser (off by default). */
  readonly eq = new Equaliser();

  private el: HTMLAudioElement | null = null;
  private graphP: Promise<void> | null = null;
  private ctx: AudioContext | null = null;
  private gain: GainNode | null = null;
  private gainValue = 1;
  private ms: MediaSource | null = null;
  private sb: SourceBuffer | null = null;
  private url: string | null = null;
  private segs: Seg[] = [];
  private gen = 0;
  /** Who works on the SourceBuffer now (a pump, a load's first append, an unchain): one at
   * a time, since appendBuffer/remove throw while it updates. A token, not a flag, so that a
   * pump of an older load finishing late cannot release a newer load's hold. */
  private owner: object | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private seq = 1;
  private initFor: Seg | null = null;
  /** [end second, bytes] of each appended fragment, to count what remove() drops. */
  private appended: [number, number][] = [];
  private fetched = 0;
  private metas: MetaCache;
  private endedFired = false;

  constructor(private readonly deps: TierDeps) {
    this.metas = new MetaCache((u, i) => deps.fetch(u, i), FIRST_CHUNK_S);
  }

  get current(): Track | null {
    return this.segs[0]?.track ?? null;
  }

  get playing(): boolean {
    return !!this.el && !this.el.paused;
  }

  get chainedNext(): Track | null {
    return this.segs[1]?.track ?? null;
  }

  /** What is buffered now (the memory bound the e2e test checks). */
  bufferStats(): BufferStats {
    let seconds = 0;
    const b = this.sb?.buffered;
    if (b) for (let i = 0; i < b.length; i++) seconds += b.end(i) - b.start(i);
    return { bytes: this.appended.reduce((a, [, n]) => a + n, 0), seconds, fetched: this.fetched };
  }

  /** The element and its graph, built once: the context runs at the device's rate whatever
   * the file's (the browser decodes at the file's rate and resamples once, into the context,
   * where a context at the file's rate would be resampled once at the output instead), so
   * a change of rate between tracks costs no rebuild (most of the start latency). */
  private graph(): Promise<void> {
    // One build at a time: warm() and a load may both ask for it.
    this.graphP ??= this.buildGraph().catch((e: unknown) => {
      this.graphP = null;
      throw e;
    });
    return this.graphP;
  }

  private async buildGraph(): Promise<void> {
    if (this.ctx) return;
    const ctx = new AudioContext({ latencyHint: "interactive" });
    const gain = ctx.createGain();
    gain.gain.value = this.gainValue;
    const post = ctx.createGain();
    this.eq.attach(ctx, gain, post);
    const out = (await this.deps.output?.(ctx, post)) ?? post;
    out.connect(ctx.destination);
    const el = new Audio();
    el.addEventListener("ended", () => {
      if (el === this.el && !this.endedFired) {
        this.endedFired = true;
        this.onended();
      }
    });
    el.addEventListener("playing", () => mark("playing"));
    el.addEventListener("error", () => {
      if (el === this.el && el.error) this.onerror(new Error(`MSE audio error ${el.error.code}: ${el.error.message}`));
    });
    ctx.createMediaElementSource(el).connect(gain);
    this.ctx = ctx;
    this.gain = gain;
    this.el = el;
  }

  private async teardownGraph(): Promise<void> {
    this.graphP = null;
    this.resetSource();
    const ctx = this.ctx;
    this.ctx = null;
    this.gain = null;
    this.el = null;
    if (ctx) await ctx.close().catch(() => {});
  }

  private resetSource(): void {
    if (this.el) {
      this.el.pause();
      this.el.removeAttribute("src");
      this.el.load();
    }
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    this.ms = null;
    this.sb = null;
    this.initFor = null;
    this.appended = [];
    this.segs = [];
  }

  /** A fresh MediaSource with one FLAC SourceBuffer on the element. */
  private async openSource(gen: number): Promise<void> {
    this.resetSource();
    const el = this.el as HTMLAudioElement;
    const ms = new MediaSource();
    const url = URL.createObjectURL(ms);
    const opened = new Promise<void>((res) => ms.addEventListener("sourceopen", () => res(), { once: true }));
    el.src = url;
    await opened;
    // A newer load replaced this MediaSource while it opened: leave that one's in place.
    if (gen !== this.gen) return;
    const sb = ms.addSourceBuffer(MSE_FLAC);
    sb.mode = "segments";
    this.ms = ms;
    this.sb = sb;
    this.url = url;
  }

  private async segment(track: Track, start: number, skip: number): Promise<Seg> {
    const meta = await this.metas.get(track);
    const ix = meta.ix;
    const rate = ix.sampleRate;
    const first = firstChunk(ix, skip, FIRST_CHUNK_S);
    const chunks = first ? [first, ...planChunks(ix, lookup(ix, first.firstSample + first.samples), rate * CHUNK_S)] : [];
    const uniq = chunks.filter((c, i) => i === 0 || c.firstSample > (chunks[i - 1] as FrameChunk).firstSample);
    return { track, meta, rate, start, skip, chunks: uniq, next: 0 };
  }

  /** Fetch `track`'s seek index, header and first chunk ahead of a play (a hover, an album
   * opened): the click then starts on bytes already here. */
  warm(track: Track): void {
    this.metas.warm(track);
    // The element and its (still suspended) context too: the first play of a page spends
    // most of its start building them. The click resumes the context (a user gesture).
    this.graph().catch(() => {});
  }

  /** Start `track` at `startMs` (exact sample), replacing whatever plays. */
  async load(track: Track, startMs: number, autoplay: boolean): Promise<StreamInfoHeaders> {
    const gen = ++this.gen;
    this.endedFired = false;
    for (const m of MARKS) performance.clearMarks(`orb:mse:${m}`); // (only the last start's)
    mark("load");
    // Click-to-sound: the meta requests, the element's new MediaSource and the context's
    // resume all run at once (each used to wait for the one before).
    const metaP = this.metas.get(track);
    metaP.catch(() => {}); // (awaited below; a failure before that must not go unhandled)
    await this.graph();
    if (gen !== this.gen) return (await metaP).info;
    const resumed = this.ctx?.state !== "running" && autoplay ? (this.ctx as AudioContext).resume() : null;
    resumed?.catch(() => {});
    await this.openSource(gen);
    mark("source-open");
    const meta = await metaP;
    mark("meta");
    if (gen !== this.gen) return meta.info;
    const rate = meta.ix.sampleRate;
    const skip = Math.max(0, Math.min(meta.ix.totalSamples, Math.round((startMs / 1000) * rate)));
    const seg = await this.segment(track, 0, skip);
    if (gen !== this.gen) return meta.info;
    this.segs = [seg];
    const el = this.el as HTMLAudioElement;
    // The first fragment must be in before currentTime can be set and play() resolve.
    await this.pumpOnce(gen, seg);
    mark("appended");
    if (gen !== this.gen) return meta.info;
    el.currentTime = skip / rate;
    if (resumed) await resumed;
    else if (this.ctx?.state !== "running") void this.ctx?.resume();
    mark("resumed");
    // Not awaited: the position reads the target until the element starts (as on the Web
    // Audio tier), and a refused play() (autoplay policy) is reported, not thrown.
    if (autoplay) el.play().catch((e: unknown) => gen === this.gen && this.onerror(e));
    this.startTimer();
    void this.pump(gen);
    return meta.info;
  }

  /** Same rate, channels and bit depth: one init segment, joined without a gap. */
  canChain(next: Track): boolean {
    const last = this.segs[this.segs.length - 1];
    return (
      !!last &&
      !!next.seekIndexUrl &&
      next.sampleRate === last.rate &&
      next.channels === last.track.channels &&
      next.bitDepth === last.track.bitDepth
    );
  }

  /** Append `next` at the exact sample end of the last track. */
  async chain(next: Track): Promise<void> {
    const gen = this.gen;
    const last = this.segs[this.segs.length - 1];
    if (!last) return;
    const start = last.start + last.meta.ix.totalSamples / last.rate;
    const seg = await this.segment(next, start, 0);
    if (gen !== this.gen || this.segs[this.segs.length - 1] !== last) return;
    this.segs.push(seg);
    void this.pump(gen);
  }

  /** Drop every track appended after the current one (the queue changed). */
  unchain(): void {
    const cur = this.segs[0];
    if (!cur || this.segs.length < 2) return;
    const end = cur.start + cur.meta.ix.totalSamples / cur.rate;
    this.segs = [cur];
    const gen = this.gen;
    void this.whenIdle(async () => {
      const sb = this.sb;
      if (!sb || gen !== this.gen) return;
      const b = sb.buffered;
      if (b.length && b.end(b.length - 1) > end) await this.op(() => sb.remove(end, Infinity));
      this.appended = this.appended.filter(([e]) => e <= end + 1e-6);
      this.finishIfDone();
    });
  }

  private startTimer(): void {
    if (this.timer === null) this.timer = setInterval(() => this.tick(), 50);
  }

  private tick(): void {
    const el = this.el;
    if (!el || !this.segs.length) return;
    const nxt = this.segs[1];
    if (nxt && el.currentTime >= nxt.start) {
      this.segs.shift();
      this.ontrackchange(nxt.track, nxt.meta.info);
    }
    void this.pump(this.gen);
  }

  /** Run `fn` once the SourceBuffer is not updating. */
  private async whenIdle(fn: () => Promise<void>): Promise<void> {
    while (this.owner) await new Promise((r) => setTimeout(r, 10));
    const me = {};
    this.owner = me;
    try {
      await fn();
    } finally {
      if (this.owner === me) this.owner = null;
    }
  }

  /** One SourceBuffer operation, resolved on updateend (rejected on error/abort). */
  private op(run: () => void): Promise<void> {
    const sb = this.sb as SourceBuffer;
    return new Promise<void>((res, rej) => {
      const done = () => {
        sb.removeEventListener("updateend", done);
        sb.removeEventListener("error", fail);
        res();
      };
      const fail = () => {
        sb.removeEventListener("updateend", done);
        sb.removeEventListener("error", fail);
        rej(new Error("SourceBuffer error"));
      };
      sb.addEventListener("updateend", done);
      sb.addEventListener("error", fail);
      try {
        run();
      } catch (e) {
        sb.removeEventListener("updateend", done);
        sb.removeEventListener("error", fail);
        rej(e);
      }
    });
  }

  private bufferedAhead(): number {
    const el = this.el;
    const sb = this.sb;
    if (!el || !sb || !sb.buffered.length) return 0;
    return sb.buffered.end(sb.buffered.length - 1) - el.currentTime;
  }

  private async pump(gen: number): Promise<void> {
    if (this.owner || gen !== this.gen) return;
    const me = {};
    this.owner = me;
    try {
      await this.trimBehind();
      while (gen === this.gen && this.sb) {
        if (this.bufferedAhead() > LOOKAHEAD_S) break;
        const seg = this.segs.find((s) => s.next < s.chunks.length);
        if (!seg) break;
        await this.appendChunk(gen, seg);
      }
      if (gen === this.gen) this.finishIfDone();
    } catch (e) {
      if (gen === this.gen) this.onerror(e);
    } finally {
      if (this.owner === me) this.owner = null;
    }
  }

  /** The first fragment of a load (awaited before play()). It takes the SourceBuffer from
   * whatever held the previous one: that was another MediaSource's, now detached. */
  private async pumpOnce(gen: number, seg: Seg): Promise<void> {
    const me = {};
    this.owner = me;
    try {
      await this.appendChunk(gen, seg);
    } finally {
      if (this.owner === me) this.owner = null;
    }
  }

  /** Everything of the last track is in and nothing follows: end the stream so the element
   * plays to the end and fires `ended`. */
  private finishIfDone(): void {
    const ms = this.ms;
    const sb = this.sb;
    if (!ms || !sb || sb.updating || ms.readyState !== "open") return;
    // (no segments: a load is between its new MediaSource and its first append)
    if (this.segs.length && this.segs.every((s) => s.next >= s.chunks.length)) ms.endOfStream();
  }

  private async trimBehind(): Promise<void> {
    const el = this.el;
    const sb = this.sb;
    if (!el || !sb || !sb.buffered.length) return;
    const upTo = el.currentTime - KEEP_BEHIND_S;
    if (sb.buffered.start(0) < upTo - 5) {
      await this.op(() => sb.remove(0, upTo));
      this.appended = this.appended.filter(([e]) => e > upTo);
    }
  }

  private async appendChunk(gen: number, seg: Seg): Promise<void> {
    const chunk = seg.chunks[seg.next] as FrameChunk;
    seg.next++;
    const bytes = await this.metas.bytes(seg.track, chunk);
    this.fetched += bytes.length;
    if (gen !== this.gen || !this.segs.includes(seg) || !this.sb) return;
    const frames = splitFrames(seg.meta.header, bytes);
    const sb = this.sb;
    // One init segment for the whole run (runStreamInfo): tracks joined by canChain share it.
    // It goes in the same appendBuffer as the first fragment (one byte stream: the spec's
    // parser takes an init segment followed by a media segment), one updateend less to wait.
    const init = this.initFor ? null : initSegment(runStreamInfo(streamInfoOf(seg.meta.header)));
    this.initFor ??= seg;
    const end = seg.start + seg.meta.ix.totalSamples / seg.rate;
    const winStart = seg.start + seg.skip / seg.rate;
    if (sb.timestampOffset !== seg.start) sb.timestampOffset = seg.start;
    // appendWindowEnd first when moving forward (start must stay below end).
    if (winStart >= sb.appendWindowEnd) {
      sb.appendWindowEnd = end;
      sb.appendWindowStart = winStart;
    } else {
      sb.appendWindowStart = winStart;
      sb.appendWindowEnd = end;
    }
    const media = mediaSegment(this.seq++, chunk.firstSample, frames);
    const frag = init ? concat(init, media) : media;
    try {
      await this.op(() => sb.appendBuffer(frag as Uint8Array<ArrayBuffer>));
    } catch (e) {
      if (!(e instanceof DOMException && e.name === "QuotaExceededError")) throw e;
      // The browser's buffer is full: drop everything played and try once more.
      const el = this.el as HTMLAudioElement;
      await this.op(() => sb.remove(0, Math.max(0.001, el.currentTime - 1)));
      await this.op(() => sb.appendBuffer(frag as Uint8Array<ArrayBuffer>));
    }
    this.appended.push([seg.start + (chunk.firstSample + chunk.samples) / seg.rate, media.length]);
  }

  positionMs(): number {
    const el = this.el;
    const s = this.segs[0];
    if (!el || !s) return 0;
    const t = el.currentTime - s.start;
    return Math.max(0, Math.min(s.meta.ix.totalSamples / s.rate, t)) * 1000;
  }

  async play(): Promise<void> {
    await this.ctx?.resume();
    await this.el?.play();
  }

  async pause(): Promise<void> {
    this.el?.pause();
  }

  async seek(ms: number): Promise<void> {
    const t = this.current;
    if (!t) return;
    await this.load(t, ms, this.playing);
  }

  setGain(g: number): void {
    this.gainValue = g;
    if (this.gain && this.ctx) this.gain.gain.setTargetAtTime(g, this.ctx.currentTime, 0.015);
  }

  /** Stop and release the MediaSource. The element and its AudioContext stay (suspended)
   * for the next load at the same rate: building them is most of the start latency. */
  async destroy(): Promise<void> {
    this.gen++;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.resetSource();
    if (this.ctx?.state === "running") await this.ctx.suspend().catch(() => {});
  }
}

/** A User Timing mark `orb:mse:<name>` (the e2e run reads them to say where a start's time
 * goes; a mark costs about a microsecond). */
const MARKS = ["load", "source-open", "meta", "appended", "resumed", "playing"] as const;
function mark(name: (typeof MARKS)[number]): void {
  performance.mark(`orb:mse:${name}`);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The FLAC frames of a chunk (whole frames cut at seek-index points), with their block
 * sizes. The header block goes first so codec-parser knows STREAMINFO (frames may say
 * "rate/depth from STREAMINFO"). */
export function splitFrames(header: Uint8Array, frames: Uint8Array): FlacSample[] {
  const parser = new CodecParser("audio/flac", { enableFrameCRC32: false });
  const all = new Uint8Array(header.length + frames.length);
  all.set(header, 0);
  all.set(frames, header.length);
  return parser.parseAll(all).map((f) => ({ data: f.data, samples: f.samples }));
}
