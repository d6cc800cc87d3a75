/**
 * Tier 2 of style-and-layout B3, with the browser's own decoder first: FLAC fetched in Range
 * chunks cut at seek-index frame starts, decoded chunk by chunk (never the whole file), and
 * scheduled back to back with `AudioBufferSourceNode.start(when)` on one AudioContext clock
 * created at the file's own rate. The next track of the same rate and channel count is
 * scheduled at the exact sample end of the previous one (gapless.ts). Seeks are exact: the
 * index gives the frame at or before the target, the first buffer starts `target - frame`
 * samples in.
 */
import { chunkSchedule } from "./gapless";
import { equalPowerCurve, planCrossfade } from "./crossfade";
import { NativeDecoder, WasmDecoder, nativeFlacLikely, type ChunkDecoder } from "./decoder";
import { lookup, planChunks, type FrameChunk, type SeekIndex } from "./seekindex";
import type { Track } from "./types";
import { Equaliser } from "./eq";
import { MetaCache, type StreamInfoHeaders } from "./meta";

export type { StreamInfoHeaders } from "./meta";

export interface TierDeps {
  /** fetch with the caller's credentials (Authorization header). */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  /** Test and visualiser hook: gets the context and the final gain node; returns the node
   * to connect to the destination instead (e.g. an AudioWorklet tap), or nothing. */
  output?(ctx: AudioContext, gain: GainNode): Promise<AudioNode | void> | AudioNode | void;
  /** Force a chunk decoder (tests; default: the browser's own when it decodes FLAC). */
  decoder?: "native" | "wasm";
}

interface Segment {
  track: Track;
  ix: SeekIndex;
  header: Uint8Array;
  rate: number;
  /** Context frame at which sample 0 of the track plays (may be negative after a seek);
   * null until the first chunk is decoded, so a slow fetch or decode never eats into the
   * audio after the seek target. */
  originFrame: number | null;
  skip: number;
  chunks: FrameChunk[];
  next: number;
  sources: AudioBufferSourceNode[];
  info: StreamInfoHeaders;
  /** The track's own gain (crossfades ramp it; 1 otherwise), into the tier's gain. */
  fade: GainNode;
}

const LOOKAHEAD_S = 12;
const FIRST_CHUNK_S = 0.6;
const CHUNK_S = 4;
const START_LEAD_S = 0.06;

export class WebAudioTier {
  readonly kind = "webaudio" as const;
  onended: () => void = () => {};
  ontrackchange: (t: Track, info: StreamInfoHeaders) => void = () => {};
  onerror: (e: unknown) => void = () => {};

  private ctx: AudioContext | null = null;
  private gain: GainNode | null = null;
  private decoder: ChunkDecoder | null = null;
  private segments: Segment[] = [];
  private gen = 0;
  private pumping = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private gainValue = 1;
  /** The optional equaliser (off by default). */
  readonly eq = new Equaliser();
  private metas: MetaCache;
  private endedFired = false;
  private crossfadeS = 0;
  /** Tracks that handed over during a crossfade and may still sound (stopped on a seek). */
  private retired: Segment[] = [];

  constructor(private readonly deps: TierDeps) {
    this.metas = new MetaCache((u, i) => deps.fetch(u, i), FIRST_CHUNK_S);
  }

  get rate(): number | null {
    return this.ctx ? this.ctx.sampleRate : null;
  }

  get current(): Track | null {
    return this.segments[0]?.track ?? null;
  }

  /** The decoder in use ("native" or "wasm"), for the UI and tests. */
  get decoderKind(): string | null {
    return this.decoder?.kind ?? null;
  }

  /** The decoded bit depth when the decoder reports it (the WASM one does). */
  get decodedBitDepth(): number | null {
    return this.decoder instanceof WasmDecoder ? this.decoder.bitDepth : null;
  }

  get playing(): boolean {
    return this.ctx?.state === "running";
  }

  private async ensureContext(rate: number): Promise<AudioContext> {
    if (this.ctx && this.ctx.sampleRate === rate) return this.ctx;
    await this.closeContext();
    let ctx: AudioContext;
    try {
      ctx = new AudioContext({ sampleRate: rate, latencyHint: "playback" });
    } catch {
      // Rates outside 8–96 kHz are not guaranteed (web-audio-api #2649): let the graph resample.
      ctx = new AudioContext({ latencyHint: "playback" });
    }
    const gain = ctx.createGain();
    gain.gain.value = this.gainValue;
    // gain → (equaliser when on) → [test tap] → destination
    const post = ctx.createGain();
    this.eq.attach(ctx, gain, post);
    const out = (await this.deps.output?.(ctx, post)) ?? post;
    out.connect(ctx.destination);
    this.ctx = ctx;
    this.gain = gain;
    const kind = this.deps.decoder ?? (nativeFlacLikely() ? "native" : "wasm");
    this.decoder = kind === "native" ? new NativeDecoder(ctx) : new WasmDecoder();
    return ctx;
  }

  private async closeContext(): Promise<void> {
    this.stopAll();
    this.decoder?.close();
    this.decoder = null;
    const ctx = this.ctx;
    this.ctx = null;
    this.gain = null;
    if (ctx) await ctx.close().catch(() => {});
  }

  private async segment(track: Track, skip: number, originFrame: number | null): Promise<Segment> {
    const { ix, header, info } = await this.metas.get(track);
    const rate = ix.sampleRate;
    await this.ensureContext(rate);
    const from = lookup(ix, skip);
    const first = planChunks(ix, from, Math.round(rate * FIRST_CHUNK_S))[0];
    const chunks = first ? [first, ...planChunks(ix, lookup(ix, first.firstSample + first.samples), rate * CHUNK_S)] : [];
    // A first chunk ending at the very end leaves lookup() pointing at itself: drop repeats.
    const uniq = chunks.filter((c, i) => i === 0 || c.firstSample > (chunks[i - 1] as FrameChunk).firstSample);
    const ctx = this.ctx as AudioContext;
    const fade = ctx.createGain();
    fade.connect(this.gain as GainNode);
    return { track, ix, header, rate, originFrame, skip, chunks: uniq, next: 0, sources: [], info, fade };
  }

  /** Fetch `track`'s seek index, header and first chunk ahead of a play (meta.ts). */
  warm(track: Track): void {
    this.metas.warm(track);
  }

  /** Start `track` at `startMs` (exact sample), replacing whatever plays. */
  async load(track: Track, startMs: number, autoplay: boolean): Promise<StreamInfoHeaders> {
    const gen = ++this.gen;
    this.stopAll();
    this.endedFired = false;
    const rate = track.sampleRate ?? 44100;
    const skip = Math.max(0, Math.round((startMs / 1000) * rate));
    const seg = await this.segment(track, skip, null);
    if (gen !== this.gen) return seg.info;
    this.segments = [seg];
    const ctx = this.ctx as AudioContext;
    if (autoplay && ctx.state !== "running") await ctx.resume();
    if (!autoplay && ctx.state === "running") await ctx.suspend();
    this.startTimer();
    await this.pump(gen);
    return seg.info;
  }

  /** Whether `next` can follow the current track without a gap (same rate and channels). */
  canChain(next: Track): boolean {
    const last = this.segments[this.segments.length - 1];
    return !!last && next.sampleRate === last.rate && next.channels === last.track.channels && !!next.seekIndexUrl;
  }

  /** Crossfade length in seconds (0: off, tracks join gaplessly). Applies to the next join. */
  setCrossfade(seconds: number): void {
    this.crossfadeS = Math.max(0, seconds);
  }

  /** Schedule `next` to start at the exact sample end of the last scheduled track, or, with
   * a crossfade, `crossfade` seconds before it with equal-power fades on both tracks. */
  async chain(next: Track): Promise<void> {
    const gen = this.gen;
    const last = this.segments[this.segments.length - 1];
    if (!last || !this.ctx || last.originFrame === null) return;
    const ctx = this.ctx;
    const total = last.ix.totalSamples;
    const end = last.originFrame + Math.round((total * ctx.sampleRate) / last.rate);
    const nextFrames = Math.round(((next.totalSamples ?? 0) * ctx.sampleRate) / (next.sampleRate ?? ctx.sampleRate));
    // The fade must start after what is already scheduled can still be changed: now + lead.
    const now = (ctx.currentTime + START_LEAD_S) * ctx.sampleRate;
    const plan = planCrossfade(end, ctx.sampleRate, this.crossfadeS, end - last.originFrame, nextFrames, now);
    const seg = await this.segment(next, 0, plan.nextOrigin);
    if (gen !== this.gen || this.segments[this.segments.length - 1] !== last) {
      seg.fade.disconnect();
      return;
    }
    if (plan.frames > 0) {
      const at = plan.nextOrigin / ctx.sampleRate;
      const dur = plan.frames / ctx.sampleRate;
      const n = Math.max(2, Math.min(4096, Math.round(dur * 200)));
      last.fade.gain.setValueCurveAtTime(equalPowerCurve(n, "out"), at, dur);
      seg.fade.gain.value = 0;
      seg.fade.gain.setValueCurveAtTime(equalPowerCurve(n, "in"), at, dur);
    }
    this.segments.push(seg);
    void this.pump(gen);
  }

  /** Drop every scheduled track after the current one (the queue changed), and any fade-out
   * scheduled on the current one. */
  unchain(): void {
    for (const s of this.segments.slice(1)) {
      for (const src of s.sources) stop(src);
      s.fade.disconnect();
    }
    this.segments = this.segments.slice(0, 1);
    const cur = this.segments[0];
    if (cur && this.ctx) {
      cur.fade.gain.cancelScheduledValues(0);
      cur.fade.gain.value = 1;
    }
  }

  get chainedNext(): Track | null {
    return this.segments[1]?.track ?? null;
  }

  private stopAll(): void {
    for (const s of [...this.segments, ...this.retired]) {
      for (const src of s.sources) stop(src);
      s.fade.disconnect();
    }
    this.segments = [];
    this.retired = [];
  }

  private startTimer(): void {
    if (this.timer === null) this.timer = setInterval(() => this.tick(), 50);
  }

  private segEndFrame(s: Segment): number {
    if (s.originFrame === null) return Infinity;
    const ctxRate = this.ctx?.sampleRate ?? s.rate;
    return s.originFrame + Math.round((s.ix.totalSamples * ctxRate) / s.rate);
  }

  private tick(): void {
    const ctx = this.ctx;
    if (!ctx || this.segments.length === 0) return;
    const now = ctx.currentTime * ctx.sampleRate;
    const cur = this.segments[0] as Segment;
    const nxt = this.segments[1];
    this.retired = this.retired.filter((r) => now < this.segEndFrame(r) || (r.fade.disconnect(), false));
    if (nxt && nxt.originFrame !== null && now >= nxt.originFrame) {
      // The next track sounds (at the end of this one, or at the start of a crossfade).
      this.segments.shift();
      this.retired.push(cur);
      this.ontrackchange(nxt.track, nxt.info);
    } else if (!nxt && now >= this.segEndFrame(cur)) {
      if (!this.endedFired && cur.next >= cur.chunks.length) {
        this.endedFired = true;
        this.onended();
      }
    }
    void this.pump(this.gen);
  }

  private scheduledEnd(): number {
    const ctx = this.ctx;
    if (!ctx) return 0;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i] as Segment;
      if (s.next > 0 && s.originFrame !== null) {
        const c = s.chunks[s.next - 1] as FrameChunk;
        return (s.originFrame + ((c.firstSample + c.samples) * ctx.sampleRate) / s.rate) / ctx.sampleRate;
      }
    }
    return ctx.currentTime;
  }

  private async pump(gen: number): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (gen === this.gen && this.ctx) {
        const ctx = this.ctx;
        if (this.scheduledEnd() - ctx.currentTime > LOOKAHEAD_S) break;
        const seg = this.segments.find((s) => s.next < s.chunks.length);
        if (!seg) break;
        const chunk = seg.chunks[seg.next] as FrameChunk;
        seg.next++;
        const frames = await this.metas.bytes(seg.track, chunk);
        const decoder = this.decoder;
        if (gen !== this.gen || !decoder) break;
        const out = await decoder.decode(seg.header, frames);
        if (gen !== this.gen || this.ctx !== ctx || !this.segments.includes(seg)) break;
        const n = Math.min(out.samples, chunk.samples);
        const buf = ctx.createBuffer(out.channels.length, n, out.sampleRate);
        out.channels.forEach((ch, c) => buf.copyToChannel(ch.subarray(0, n) as Float32Array<ArrayBuffer>, c));
        seg.originFrame ??= Math.ceil((ctx.currentTime + START_LEAD_S) * ctx.sampleRate) - Math.round((seg.skip * ctx.sampleRate) / seg.rate);
        const sched = chunkSchedule(seg.originFrame / ctx.sampleRate, seg.rate, 0, chunk.firstSample, n, seg.skip);
        if (!sched) continue;
        const src = ctx.createBufferSource();
        src.buffer = buf;
        src.connect(seg.fade);
        const late = ctx.currentTime - sched.when;
        if (late > 0) {
          // Behind the clock (slow network or a stalled tab): play the rest of this chunk now.
          if (late >= sched.duration) continue;
          src.start(ctx.currentTime, sched.offset + late);
        } else {
          src.start(sched.when, sched.offset);
        }
        src.onended = () => {
          seg.sources = seg.sources.filter((x) => x !== src);
        };
        seg.sources.push(src);
      }
    } catch (e) {
      if (gen === this.gen) this.onerror(e);
    } finally {
      this.pumping = false;
    }
  }

  /** Position of the current track in ms. */
  positionMs(): number {
    const ctx = this.ctx;
    const s = this.segments[0];
    if (!ctx || !s) return 0;
    if (s.originFrame === null) return (s.skip * 1000) / s.rate;
    const samples = ((ctx.currentTime * ctx.sampleRate - s.originFrame) * s.rate) / ctx.sampleRate;
    // Until the first buffer plays (the start lead) the position is the seek target.
    return Math.max(s.skip, Math.min(s.ix.totalSamples, samples)) * (1000 / s.rate);
  }

  async play(): Promise<void> {
    await this.ctx?.resume();
  }

  async pause(): Promise<void> {
    if (this.ctx?.state === "running") await this.ctx.suspend();
  }

  async seek(ms: number): Promise<void> {
    const t = this.current;
    if (!t) return;
    const wasPlaying = this.playing;
    await this.load(t, ms, wasPlaying);
  }

  setGain(g: number): void {
    this.gainValue = g;
    if (this.gain && this.ctx) this.gain.gain.setTargetAtTime(g, this.ctx.currentTime, 0.015);
  }

  async destroy(): Promise<void> {
    this.gen++;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.closeContext();
  }
}

function stop(src: AudioBufferSourceNode): void {
  try {
    src.onended = null;
    src.stop();
    src.disconnect();
  } catch {
    /* never started */
  }
}
