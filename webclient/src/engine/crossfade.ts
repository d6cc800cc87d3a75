/**
 * Crossfade arithmetic (optional, off by default). Equal-power: the outgoing track's gain
 * follows cos(πx/2) and the incoming one's sin(πx/2) for x from 0 to 1 across the fade, so
 * out² + in² = 1 and the summed power of two uncorrelated signals stays constant (no dip in
 * the middle as with linear fades).
 *
 * Positions are context frames (integers) until they become AudioParam times, as in
 * gapless.ts, so the next track starts on an exact frame.
 */

/** The fade curve with `n` points (n ≥ 2), from 1 to 0 ("out") or 0 to 1 ("in"). */
export function equalPowerCurve(n: number, dir: "in" | "out"): Float32Array {
  const len = Math.max(2, Math.floor(n));
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    const x = i / (len - 1);
    out[i] = dir === "in" ? Math.sin((x * Math.PI) / 2) : Math.cos((x * Math.PI) / 2);
  }
  // exact end points (sin(π/2) and cos(π/2) are not exactly 1 and 0 in floating point)
  out[0] = dir === "in" ? 0 : 1;
  out[len - 1] = dir === "in" ? 1 : 0;
  return out;
}

export interface CrossfadePlan {
  /** Context frame at which the incoming track's sample 0 plays (and its fade-in starts). */
  nextOrigin: number;
  /** Fade length in frames (0: a plain gapless join). */
  frames: number;
}

/**
 * Where the next track starts when the current one ends at context frame `endFrame`.
 * - `seconds`: the crossfade setting (0 or less: off, the next track starts at `endFrame`);
 * - the fade never exceeds half of either track (a 4 s track with a 10 s setting fades 2 s),
 *   and never starts before `nowFrame` (a fade already due plays from now, shorter).
 */
export function planCrossfade(
  endFrame: number,
  rate: number,
  seconds: number,
  currentFrames: number,
  nextFrames: number,
  nowFrame = -Infinity,
): CrossfadePlan {
  if (!(seconds > 0)) return { nextOrigin: endFrame, frames: 0 };
  let frames = Math.round(seconds * rate);
  frames = Math.min(frames, Math.floor(currentFrames / 2), Math.floor(nextFrames / 2));
  frames = Math.min(frames, Math.max(0, endFrame - Math.ceil(nowFrame)));
  if (frames <= 0) return { nextOrigin: endFrame, frames: 0 };
  return { nextOrigin: endFrame - frames, frames };
}

/** Gain of each side at frame `f` of a fade of `frames` frames starting at `start` (for
 * tests and the position readout): [out, in]. */
export function gainsAt(f: number, start: number, frames: number): [number, number] {
  if (frames <= 0) return f < start ? [1, 0] : [0, 1];
  const x = Math.max(0, Math.min(1, (f - start) / frames));
  return [Math.cos((x * Math.PI) / 2), Math.sin((x * Math.PI) / 2)];
}
