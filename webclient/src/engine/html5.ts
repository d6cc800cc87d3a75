/**
 * Tier 3 of style-and-layout B3: a plain `<audio src>` for lossy formats and the server's
 * `?as=flac` conversions, with the next track preloaded in a second element and handed over
 * on `ended`. This is near-gapless only, and the UI says so. Volume and ReplayGain go
 * through a GainNode (same-origin element, so MediaElementSource is never silent).
 *
 * Crossfade (optional): each element has its own GainNode; `crossfade` seconds before the
 * playing element's end the preloaded one starts and equal-power curves run on both. The
 * start is timed by a 50 ms poll of currentTime, so the overlap is right to about that
 * (the Web Audio tier's is sample-exact).
 */
import { equalPowerCurve } from "./crossfade";
import type { StreamInfoHeaders, TierDeps } from "./webaudio";
import type { Track } from "./types";
import { Equaliser } from "./eq";

export class Html5Tier {
  readonly kind = "html5" as const;
  onended: () => void = () => {};
  onerror: (e: unknown) => void = () => {};

  private els: HTMLAudioElement[] = [];
  private cur = 0;
  private ctx: AudioContext | null = null;
  private gain: GainNode | null = null;
  private gainValue = 1;
  /** The optional equaliser (off by default). */
  readonly eq = new Equaliser();
  private preloaded: string | null = null;
  private track: Track | null = null;
  private url: string | null = null;
  private retried = false;
  private intendPlay = false;
  private fades: GainNode[] = [];
  private crossfadeS = 0;
  /** The element fading in (started before the player moved on to its track). */
  private fadingIn: HTMLAudioElement | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly deps: TierDeps & { mediaUrl(url: string): string }) {}

  private async graph(): Promise<void> {
    if (this.ctx) return;
    const ctx = new AudioContext({ latencyHint: "playback" });
    const gain = ctx.createGain();
    gain.gain.value = this.gainValue;
    const post = ctx.createGain();
    this.eq.attach(ctx, gain, post);
    const out = (await this.deps.output?.(ctx, post)) ?? post;
    out.connect(ctx.destination);
    for (let i = 0; i < 2; i++) {
      const el = new Audio();
      el.preload = "auto";
      el.addEventListener("ended", () => {
        if (el === this.els[this.cur]) this.onended();
      });
      el.addEventListener("error", () => void this.recover(el));
      const fade = ctx.createGain();
      fade.connect(gain);
      ctx.createMediaElementSource(el).connect(fade);
      this.fades.push(fade);
      this.els.push(el);
    }
    this.ctx = ctx;
    this.gain = gain;
  }

  /** A media error on the playing element: once per track, re-authenticate (the ?token= in
   * the URL may have expired mid-track; authFetch refreshes on 401) and resume where it was;
   * a second error is reported. */
  private async recover(el: HTMLAudioElement): Promise<void> {
    if (el !== this.els[this.cur] || !el.error) return;
    const err = new Error(`audio error ${el.error.code}: ${el.error.message}`);
    if (this.retried || !this.url || (el.error.code === MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED && el.currentTime === 0)) {
      this.onerror(err);
      return;
    }
    this.retried = true;
    const at = el.currentTime;
    await this.deps.fetch(this.url, { method: "HEAD" }).catch(() => null);
    el.src = this.deps.mediaUrl(this.url);
    el.currentTime = at;
    if (this.intendPlay) await el.play().catch((e: unknown) => this.onerror(e));
  }

  private get el(): HTMLAudioElement {
    return this.els[this.cur] as HTMLAudioElement;
  }

  get current(): Track | null {
    return this.track;
  }

  get playing(): boolean {
    return !!this.els.length && !this.el.paused;
  }

  async load(track: Track, url: string, startMs: number, autoplay: boolean): Promise<StreamInfoHeaders> {
    await this.graph();
    // Outside a user gesture resume() stays pending until one comes: never wait for it then.
    if (autoplay) await this.ctx?.resume();
    else void this.ctx?.resume();
    const src = this.deps.mediaUrl(url);
    const other = 1 - this.cur;
    const switching = this.preloaded === src;
    // The preloaded track already fading in (maybeFade): the outgoing one plays on to its end.
    const fading = switching && startMs === 0 && this.fadingIn === this.els[other];
    this.fadingIn = null;
    if (!fading) {
      // Anything else (another track, a fade cut short): both stop, at full gain for next time.
      for (const e of this.els) e.pause();
      this.setFade(0, 1);
      this.setFade(1, 1);
    }
    if (switching) this.cur = other;
    this.preloaded = null;
    const el = this.el;
    if (el.src !== new URL(src, location.href).href) el.src = src;
    this.track = track;
    this.url = url;
    this.retried = false;
    this.intendPlay = autoplay;
    if (fading) {
      // already playing since the crossfade began: keep its position
    } else if (startMs > 0) el.currentTime = startMs / 1000;
    else if (el.currentTime > 0) el.currentTime = 0;
    if (autoplay && el.paused) await el.play();
    this.watch();
    return this.headers(track, url);
  }

  /** Crossfade length in seconds (0: off). */
  setCrossfade(seconds: number): void {
    this.crossfadeS = Math.max(0, seconds);
    this.watch();
  }

  private setFade(i: number, v: number): void {
    const f = this.fades[i];
    if (f && this.ctx) {
      f.gain.cancelScheduledValues(0);
      f.gain.value = v;
    }
  }

  private watch(): void {
    if (this.crossfadeS > 0 && this.poll === null) this.poll = setInterval(() => this.maybeFade(), 50);
    if (this.crossfadeS <= 0 && this.poll !== null) {
      clearInterval(this.poll);
      this.poll = null;
    }
  }

  /** Start the preloaded element when the playing one has `crossfade` seconds left. */
  private maybeFade(): void {
    const el = this.els[this.cur];
    const other = 1 - this.cur;
    const next = this.els[other];
    const ctx = this.ctx;
    if (!el || !next || !ctx || !this.preloaded || this.fadingIn || el.paused || !Number.isFinite(el.duration)) return;
    const left = el.duration - el.currentTime;
    const d = Math.min(this.crossfadeS, el.duration / 2, Number.isFinite(next.duration) ? next.duration / 2 : Infinity);
    if (left > d || left <= 0.05) return;
    this.fadingIn = next;
    const n = Math.max(2, Math.round(left * 200));
    const at = ctx.currentTime;
    (this.fades[this.cur] as GainNode).gain.cancelScheduledValues(0);
    (this.fades[this.cur] as GainNode).gain.setValueCurveAtTime(equalPowerCurve(n, "out"), at, left);
    (this.fades[other] as GainNode).gain.cancelScheduledValues(0);
    (this.fades[other] as GainNode).gain.value = 0;
    (this.fades[other] as GainNode).gain.setValueCurveAtTime(equalPowerCurve(n, "in"), at, left);
    next.currentTime = 0;
    void next.play().catch((e: unknown) => this.onerror(e));
    // The player moves on now (as on the Web Audio tier, the next track is current from the
    // start of its fade); load() finds it playing and keeps it.
    this.onended();
  }

  /** The format from the X-Orb headers (a HEAD request; falls back to the Track's fields). */
  private async headers(track: Track, url: string): Promise<StreamInfoHeaders> {
    const info: StreamInfoHeaders = { codec: track.codec, bitDepth: track.bitDepth, sampleRate: track.sampleRate, channels: track.channels };
    try {
      const r = await this.deps.fetch(url, { method: "HEAD" });
      const n = (k: string) => (r.headers.get(k) ? Number(r.headers.get(k)) : null);
      return {
        codec: r.headers.get("X-Orb-Codec") ?? info.codec,
        bitDepth: n("X-Orb-Bit-Depth") ?? info.bitDepth,
        sampleRate: n("X-Orb-Sample-Rate") ?? info.sampleRate,
        channels: n("X-Orb-Channels") ?? info.channels,
      };
    } catch {
      return info;
    }
  }

  /** Preload the next track into the idle element (prefetch; no gapless claim). */
  preload(url: string): void {
    const src = this.deps.mediaUrl(url);
    const idle = this.els[1 - this.cur];
    if (!idle || this.preloaded === src) return;
    idle.src = src;
    idle.load();
    this.preloaded = src;
  }

  positionMs(): number {
    return this.els.length ? this.el.currentTime * 1000 : 0;
  }

  async play(): Promise<void> {
    this.intendPlay = true;
    await this.ctx?.resume();
    await this.el.play();
  }

  async pause(): Promise<void> {
    this.intendPlay = false;
    this.el.pause();
  }

  async seek(ms: number): Promise<void> {
    this.el.currentTime = ms / 1000;
  }

  setGain(g: number): void {
    this.gainValue = g;
    if (this.gain && this.ctx) this.gain.gain.setTargetAtTime(g, this.ctx.currentTime, 0.015);
  }

  async destroy(): Promise<void> {
    for (const el of this.els) {
      el.pause();
      el.removeAttribute("src");
      el.load();
    }
    this.els = [];
    this.fades = [];
    this.fadingIn = null;
    if (this.poll !== null) clearInterval(this.poll);
    this.poll = null;
    this.track = null;
    const ctx = this.ctx;
    this.ctx = null;
    if (ctx) await ctx.close().catch(() => {});
  }
}
