/**
 * ReplayGain → a linear GainNode value. The gain (dB) is applied as 10^(dB/20) and limited
 * so that peak × gain ≤ 1 (ReplayGain 2.0 spec: clipping prevention). Album mode falls back
 * to the track values and the other way round; no tags → 1.
 */
import type { ReplayGain } from "./types";

export type GainMode = "off" | "track" | "album";

export function replayGainFactor(rg: ReplayGain | null, mode: GainMode, preampDb = 0): number {
  if (mode === "off" || !rg) return 1;
  const gain = mode === "album" ? (rg.albumGain ?? rg.trackGain) : (rg.trackGain ?? rg.albumGain);
  const peak = mode === "album" ? (rg.albumPeak ?? rg.trackPeak) : (rg.trackPeak ?? rg.albumPeak);
  if (gain === null || gain === undefined) return 1;
  let f = Math.pow(10, (gain + preampDb) / 20);
  if (peak && peak > 0 && f * peak > 1) f = 1 / peak;
  return f;
}

/** A volume slider value (0–1) to a perceptual gain (cubic, as most players do). */
export function volumeCurve(v: number): number {
  const c = Math.max(0, Math.min(1, v));
  return c * c * c;
}
