import { describe, expect, it } from "vitest";
import { formatBadge, mimeFor, planPlayback } from "../src/engine/format";
import { replayGainFactor, volumeCurve } from "../src/engine/gain";
import { track } from "./fixtures";

// What Debian Chromium 156 answered (infra-notes §9): FLAC, MP3, Opus, Vorbis, AAC yes; ALAC no.
const chromium = (m: string) => (m.includes("alac") || m.includes("ape") || m.includes("wavpack") ? "" : "probably");

describe("format detection", () => {
  it("FLAC with a seek index goes to the Web Audio tier, unconverted", () => {
    const p = planPlayback(track("tr-1"), chromium, true);
    expect(p).toMatchObject({ tier: "webaudio", url: "/api/v1/stream/tr-1", converted: false });
  });
  it("FLAC goes to MSE when MediaSource takes FLAC in fMP4; a forced tier wins when usable", () => {
    const caps = { webAudio: true, mseFlac: true };
    expect(planPlayback(track("tr-1"), chromium, caps).tier).toBe("mse");
    expect(planPlayback(track("tr-1"), chromium, { ...caps, force: "webaudio" }).tier).toBe("webaudio");
    expect(planPlayback(track("tr-1"), chromium, { ...caps, force: "html5" }).tier).toBe("html5");
    // MSE forced where MediaSource lacks FLAC: the automatic choice
    expect(planPlayback(track("tr-1"), chromium, { webAudio: true, mseFlac: false, force: "mse" }).tier).toBe("webaudio");
    // crossfade needs two overlapping tracks: the Web Audio tier
    expect(planPlayback(track("tr-1"), chromium, { ...caps, crossfade: true }).tier).toBe("webaudio");
    // lossy formats stay on <audio> whatever is forced
    expect(planPlayback(track("t", { codec: "mp3", lossless: false, seekIndexUrl: null }), chromium, { ...caps, force: "mse" }).tier).toBe("html5");
  });
  it("FLAC without Web Audio or a seek index plays in <audio>", () => {
    expect(planPlayback(track("tr-1"), chromium, false).tier).toBe("html5");
    expect(planPlayback(track("tr-1", { seekIndexUrl: null }), chromium, true).tier).toBe("html5");
  });
  it("ALAC, APE and WavPack are converted with ?as=flac", () => {
    for (const codec of ["alac", "ape", "wavpack"]) {
      const p = planPlayback(track("tr-2", { codec, container: codec === "alac" ? "m4a" : codec, browserPlayable: false, seekIndexUrl: null }), chromium, true);
      expect(p).toMatchObject({ tier: "html5", url: "/api/v1/stream/tr-2?as=flac", converted: true });
    }
    // even if the server forgot to say so, a codec the browser rejects is converted
    expect(planPlayback(track("tr-3", { codec: "alac", container: "m4a" }), chromium, true).converted).toBe(true);
  });
  it("lossy formats the browser knows play natively", () => {
    for (const codec of ["mp3", "aac", "opus", "vorbis"]) {
      expect(planPlayback(track("t", { codec, lossless: false, seekIndexUrl: null }), chromium, true)).toMatchObject({ tier: "html5", converted: false });
    }
    expect(mimeFor("mp3", null)).toBe("audio/mpeg");
    expect(mimeFor(null, "m4a")).toBe("audio/mp4");
  });
  it("formats the badge", () => {
    expect(formatBadge("flac", 24, 96000)).toBe("FLAC · 24 bit · 96 kHz");
    expect(formatBadge("flac", 16, 44100)).toBe("FLAC · 16 bit · 44.1 kHz");
    expect(formatBadge("mp3", null, 48000)).toBe("MP3 · 48 kHz");
  });
});

describe("gain", () => {
  it("applies ReplayGain with clipping prevention and fallbacks", () => {
    const rg = { trackGain: -6, trackPeak: 0.9, albumGain: null, albumPeak: null };
    expect(replayGainFactor(rg, "track")).toBeCloseTo(10 ** (-6 / 20), 10);
    expect(replayGainFactor(rg, "album")).toBeCloseTo(10 ** (-6 / 20), 10);
    expect(replayGainFactor({ trackGain: 6, trackPeak: 0.9, albumGain: null, albumPeak: null }, "track")).toBeCloseTo(1 / 0.9, 10);
    expect(replayGainFactor(rg, "off")).toBe(1);
    expect(replayGainFactor(null, "track")).toBe(1);
  });
  it("volume curve is monotone from 0 to 1", () => {
    expect(volumeCurve(0)).toBe(0);
    expect(volumeCurve(1)).toBe(1);
    expect(volumeCurve(0.5)).toBeLessThan(0.5);
    expect(volumeCurve(2)).toBe(1);
  });
});
