/**
 * The player: a Queue plus the tier that plays its current entry. FLAC with a seek index
 * plays on the MSE tier when the browser's MediaSource takes FLAC in fMP4 (the module is
 * loaded on first use), else on the Web Audio tier; both are gapless with the next track
 * when the formats match. Everything else plays on `<audio>`. `deps.tier` forces a tier. Listeners get a PlayerState snapshot on every change; the
 * position is read with positionMs() (the UI polls it per animation frame).
 */
import { formatBadge, planPlayback, type Capabilities, type Tier } from "./format";
import { replayGainFactor, volumeCurve, type GainMode } from "./gain";
import { Html5Tier } from "./html5";
import { Queue } from "./queue";
import type { Track } from "./types";
import { WebAudioTier, type StreamInfoHeaders, type TierDeps } from "./webaudio";
import type { MseTier } from "./mse";

/** The two range-fetching, gapless tiers. */
type RangeTier = WebAudioTier | MseTier;

/** Whether MediaSource takes FLAC in fMP4 here (mse.ts has the same probe, but importing it
 * would pull the tier into the initial bundle). */
function mseFlac(): boolean {
  const MS = (globalThis as { MediaSource?: typeof MediaSource }).MediaSource;
  return !!MS && typeof MS.isTypeSupported === "function" && MS.isTypeSupported('audio/mp4; codecs="flac"');
}

export interface PlayerState {
  queue: Queue;
  track: Track | null;
  playing: boolean;
  loading: boolean;
  tier: Tier | null;
  badge: string;
  gapless: boolean;
  volume: number;
  muted: boolean;
  error: string | null;
}

export interface PlayerDeps extends TierDeps {
  mediaUrl(url: string): string;
  /** now-playing (submission false) and scrobble (true) reports, as the Subsonic clients do. */
  report?(track: Track, submission: boolean): void;
  canPlay?(mime: string): string;
  /** Force a tier (a setting, the `?tier=` URL flag, tests); null or absent: by capability. */
  tier?: Tier | null;
}

export class Player {
  private q: Queue = Queue.empty();
  private web: WebAudioTier;
  private html: Html5Tier;
  private mse: MseTier | null = null;
  private msePromise: Promise<MseTier> | null = null;
  private active: RangeTier | Html5Tier | null = null;
  private listeners = new Set<(s: PlayerState) => void>();
  private st: Omit<PlayerState, "queue" | "track">;
  private gainMode: GainMode = "track";
  private eqGains: readonly number[] | null = null;
  private crossfadeS = 0;
  private scrobbled = false;
  private reportTimer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly deps: PlayerDeps) {
    this.st = { playing: false, loading: false, tier: null, badge: "", gapless: false, volume: 0.8, muted: false, error: null };
    this.web = new WebAudioTier(deps);
    this.html = new Html5Tier(deps);
    this.wire(this.web);
    this.html.onended = () => void this.advance();
    this.html.onerror = (e) => this.fail(e);
  }

  private wire(tier: RangeTier): void {
    tier.onended = () => void this.advance();
    tier.onerror = (e) => this.fail(e);
    tier.ontrackchange = (t, info) => {
      // Gapless handover: the chained track is now playing.
      this.q = this.q.select((this.q.current ?? -1) + 1);
      if (this.q.currentTrack?.id !== t.id) this.q = this.q.select(this.q.entries.findIndex((e) => e.track.id === t.id));
      this.started(t, info);
      void this.prepareNext();
    };
  }

  /** The MSE tier, its module imported on first use (a lazy chunk with codec-parser). */
  private mseTier(): Promise<MseTier> {
    this.msePromise ??= import("./mse").then((m) => {
      const t = new m.MseTier(this.deps);
      this.wire(t);
      t.eq.set(this.eqGains);
      this.mse = t;
      this.applyGain(this.q.currentTrack);
      return t;
    });
    return this.msePromise;
  }

  /** Fetch the MSE module ahead of the first play (after login, when the browser is idle),
   * so the first click does not wait for it. Not part of the initial bundle. */
  prefetch(): void {
    if (mseFlac() && !this.deps.tier) void this.mseTier().catch(() => {});
  }

  /** Fetch what starting `track` needs (seek index, header, first chunk) before it is asked
   * to play: the UI calls this when a Play control is shown, hovered or focused, so the
   * click starts on bytes already here. Only the range tiers have anything to fetch. */
  warm(track: Track | null | undefined): void {
    if (!track) return;
    const canPlay = this.deps.canPlay ?? ((m: string) => new Audio().canPlayType(m));
    const tier = planPlayback(track, canPlay, this.caps()).tier;
    if (tier === "webaudio") this.web.warm(track);
    else if (tier === "mse") void this.mseTier().then((t) => t.warm(track), () => {});
  }

  private caps(): Capabilities {
    return {
      webAudio: typeof AudioContext !== "undefined",
      mseFlac: mseFlac(),
      force: this.deps.tier ?? null,
      crossfade: this.crossfadeS > 0,
    };
  }

  private isRange(t: unknown): t is RangeTier {
    return t === this.web || (t !== null && t === this.mse);
  }

  subscribe(fn: (s: PlayerState) => void): () => void {
    this.listeners.add(fn);
    fn(this.state);
    return () => this.listeners.delete(fn);
  }

  get state(): PlayerState {
    return { ...this.st, queue: this.q, track: this.q.currentTrack };
  }

  get queue(): Queue {
    return this.q;
  }

  /** The tier instance (tests and diagnostics). */
  get engine(): RangeTier | Html5Tier | null {
    return this.active;
  }

  private emit(): void {
    const s = this.state;
    for (const fn of this.listeners) fn(s);
  }

  private fail(e: unknown): void {
    this.st.error = e instanceof Error ? e.message : String(e);
    this.st.loading = false;
    this.emit();
  }

  positionMs(): number {
    return this.active?.positionMs() ?? 0;
  }

  /** Replace the queue and start entry `index` at `startMs` (autoplay unless told not to). */
  async playQueue(q: Queue, startMs = 0, autoplay = true): Promise<void> {
    this.q = q;
    await this.start(startMs, autoplay);
  }

  /** Replace the queue without touching what plays when the current track stays the same
   * (queue edits: play next, append, move, remove). */
  async updateQueue(q: Queue): Promise<void> {
    const same = q.currentTrack?.id === this.q.currentTrack?.id;
    this.q = q;
    if (!same) {
      await this.start(0, this.st.playing);
      return;
    }
    this.emit();
    await this.prepareNext();
  }

  async playIndex(i: number, startMs = 0): Promise<void> {
    this.q = this.q.select(i);
    await this.start(startMs, true);
  }

  private async start(startMs: number, autoplay: boolean): Promise<void> {
    const t = this.q.currentTrack;
    if (!t) {
      await this.stop();
      return;
    }
    const canPlay = this.deps.canPlay ?? ((m: string) => new Audio().canPlayType(m));
    const plan = planPlayback(t, canPlay, this.caps());
    let tier: RangeTier | Html5Tier = plan.tier === "webaudio" ? this.web : this.html;
    if (plan.tier === "mse") {
      try {
        tier = await this.mseTier();
      } catch (e) {
        console.warn("MSE tier unavailable, using Web Audio:", e);
        plan.tier = "webaudio";
        tier = this.web;
      }
      if (this.q.currentTrack?.id !== t.id) return;
    }
    if (this.active && this.active !== tier) await this.active.destroy();
    this.active = tier;
    this.st.loading = true;
    this.st.error = null;
    this.st.tier = plan.tier;
    this.emit();
    this.applyGain(t);
    try {
      let info: StreamInfoHeaders;
      if (this.isRange(tier)) {
        try {
          info = await tier.load(t, startMs, autoplay);
        } catch (e) {
          // No usable seek index or range (an old server, a broken file): fall back to
          // <audio>, which plays the same bytes without the gapless guarantee.
          if (this.q.currentTrack?.id !== t.id) return;
          console.warn(`${plan.tier} tier unavailable, using <audio>:`, e);
          await tier.destroy();
          this.active = this.html;
          this.st.tier = "html5";
          info = await this.html.load(t, plan.url, startMs, autoplay);
        }
      } else {
        info = await this.html.load(t, plan.url, startMs, autoplay);
      }
      if (this.q.currentTrack?.id !== t.id) return;
      this.st.playing = autoplay;
      this.started(t, info);
      await this.prepareNext();
    } catch (e) {
      this.fail(e);
    }
  }

  private started(t: Track, info: StreamInfoHeaders): void {
    this.st.loading = false;
    this.st.badge = formatBadge(info.codec, info.bitDepth, info.sampleRate);
    this.applyGain(t);
    this.scrobbled = false;
    if (this.st.playing) this.deps.report?.(t, false);
    this.watchScrobble();
    this.emit();
  }

  /** Scrobble at half the track or 4 minutes, whichever first (Last.fm rule). */
  private watchScrobble(): void {
    if (this.reportTimer === null) {
      this.reportTimer = setInterval(() => {
        const t = this.q.currentTrack;
        if (!t || this.scrobbled || !this.st.playing) return;
        const pos = this.positionMs();
        if (pos >= Math.min(t.durationMs / 2, 240_000)) {
          this.scrobbled = true;
          this.deps.report?.(t, true);
        }
      }, 1000);
    }
  }

  /** Chain (gapless) or preload the next track. */
  private async prepareNext(): Promise<void> {
    const next = this.q.nextTrack;
    const canPlay = this.deps.canPlay ?? ((m: string) => new Audio().canPlayType(m));
    const a = this.active;
    if (this.isRange(a)) {
      if (a.chainedNext && a.chainedNext.id !== next?.id) a.unchain();
      const plan = next ? planPlayback(next, canPlay, this.caps()) : null;
      const chain = !!next && plan?.tier === a.kind && a.canChain(next);
      this.st.gapless = chain && !(a.kind === "webaudio" && this.crossfadeS > 0);
      this.emit();
      if (next && chain && !a.chainedNext) await a.chain(next);
    } else if (this.active === this.html && next) {
      this.st.gapless = false;
      this.html.preload(planPlayback(next, canPlay, false).url);
    }
  }

  private async advance(): Promise<void> {
    if (this.q.current !== null && this.q.current < this.q.length - 1) {
      this.q = this.q.select(this.q.current + 1);
      await this.start(0, true);
    } else {
      this.st.playing = false;
      this.emit();
    }
  }

  async toggle(): Promise<void> {
    if (this.st.playing) await this.pause();
    else await this.play();
  }

  async play(): Promise<void> {
    if (!this.active || !this.active.current) {
      if (this.q.currentTrack) await this.start(0, true);
      return;
    }
    await this.active.play();
    this.st.playing = true;
    const t = this.q.currentTrack;
    if (t) this.deps.report?.(t, false);
    this.emit();
  }

  async pause(): Promise<void> {
    await this.active?.pause();
    this.st.playing = false;
    this.emit();
  }

  async stop(): Promise<void> {
    await this.active?.destroy();
    this.active = null;
    this.st.playing = false;
    this.st.tier = null;
    this.st.badge = "";
    this.emit();
  }

  async next(): Promise<void> {
    if (this.q.current !== null && this.q.current < this.q.length - 1) await this.playIndex(this.q.current + 1);
  }

  /** Previous: restart the track after 3 s, else the previous entry (as most players do). */
  async prev(): Promise<void> {
    if (this.positionMs() > 3000 || !this.q.current) await this.seek(0);
    else await this.playIndex(this.q.current - 1);
  }

  async seek(ms: number): Promise<void> {
    const t = this.q.currentTrack;
    if (!t || !this.active) return;
    const clamped = Math.max(0, Math.min(t.durationMs, ms));
    await this.active.seek(clamped);
    // Not awaited: seek() resolves with the tier at the target (a caller reading positionMs()
    // right away gets it), and re-chaining the next track needs no wait.
    if (this.isRange(this.active)) this.prepareNext().catch((e: unknown) => this.fail(e));
  }

  setVolume(v: number): void {
    this.st.volume = Math.max(0, Math.min(1, v));
    this.applyGain(this.q.currentTrack);
    this.emit();
  }

  setMuted(m: boolean): void {
    this.st.muted = m;
    this.applyGain(this.q.currentTrack);
    this.emit();
  }

  /** 10 band gains in dB (eq.ts EQ_BANDS_HZ), or null to take the equaliser out. */
  setEqualiser(gains: readonly number[] | null): void {
    this.eqGains = gains;
    this.web.eq.set(gains);
    this.html.eq.set(gains);
    this.mse?.eq.set(gains);
  }

  /** Crossfade between tracks, in seconds (0: off, the default). Equal-power fades on the
   * Web Audio tier (crossfade.ts; sample-exact) and on `<audio>` (timed by a 50 ms poll);
   * with it on, FLAC plays on Web Audio rather than MSE (one element, one timeline). Tracks
   * of different rates or channel counts still change over without a fade. */
  async setCrossfade(seconds: number): Promise<void> {
    this.crossfadeS = Math.max(0, Math.min(12, seconds || 0));
    this.web.setCrossfade(this.crossfadeS);
    this.html.setCrossfade(this.crossfadeS);
    if (this.active === this.web && this.web.chainedNext) {
      this.web.unchain();
      await this.prepareNext();
    }
  }

  get crossfade(): number {
    return this.crossfadeS;
  }

  setGainMode(m: GainMode): void {
    this.gainMode = m;
    this.applyGain(this.q.currentTrack);
  }

  private applyGain(t: Track | null): void {
    const g = this.st.muted ? 0 : volumeCurve(this.st.volume) * replayGainFactor(t?.replayGain ?? null, this.gainMode);
    this.web.setGain(g);
    this.html.setGain(g);
    this.mse?.setGain(g);
  }
}
