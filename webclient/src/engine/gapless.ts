/**
 * Gapless scheduling arithmetic. FLAC has no encoder delay or padding, so the next track
 * starts at the exact sample end of the previous one: on the Web Audio tier chunk k of a
 * track starts at `origin + (trackStart + chunk.firstSample - skip) / rate` on one
 * AudioContext clock; on an MSE tier the SourceBuffer `timestampOffset` is the same sum.
 * Positions are kept as integer sample counts and turned into seconds only at the end, so
 * rounding never accumulates across tracks.
 */

export interface TimelineTrack {
  totalSamples: number;
  sampleRate: number;
  channels: number;
}

/** Two tracks join without a gap only with the same rate and channel count (otherwise the
 * context is rebuilt and a discontinuity is accepted, style-and-layout B3). */
export function joinable(a: TimelineTrack, b: TimelineTrack): boolean {
  return a.sampleRate === b.sampleRate && a.channels === b.channels;
}

/** Start sample of each track on a shared timeline at `rate`, when all are joinable:
 * the cumulative sum of the previous tracks' sample counts. */
export function startSamples(tracks: readonly TimelineTrack[]): number[] {
  const out: number[] = [];
  let at = 0;
  for (const t of tracks) {
    out.push(at);
    at += t.totalSamples;
  }
  return out;
}

/** The MSE `timestampOffset` (s) for track i of a joined run. */
export function timestampOffset(tracks: readonly TimelineTrack[], i: number): number {
  const first = tracks[0];
  if (!first) return 0;
  return (startSamples(tracks)[i] ?? 0) / first.sampleRate;
}

/**
 * Where a decoded chunk plays on the context clock.
 * - `origin`: context time (s) at which timeline sample 0 plays.
 * - `trackStart`: timeline sample where the track starts (for a seek: minus the seek target).
 * - `chunkFirst`: the chunk's first sample within the track; `chunkLen` its sample count.
 * - `skipBefore`: samples of the track before this position are not played (a seek target).
 * Returns `when` (s), `offset` (s into the buffer) and `duration` (s), or null when the
 * whole chunk lies before `skipBefore`.
 */
export function chunkSchedule(
  origin: number,
  rate: number,
  trackStart: number,
  chunkFirst: number,
  chunkLen: number,
  skipBefore = 0,
): { when: number; offset: number; duration: number } | null {
  const trim = Math.max(0, skipBefore - chunkFirst);
  if (trim >= chunkLen) return null;
  const playAt = trackStart + chunkFirst + trim;
  return { when: origin + playAt / rate, offset: trim / rate, duration: (chunkLen - trim) / rate };
}

/** The position (samples into the track) shown for a context time, clamped to the track. */
export function positionAt(time: number, origin: number, rate: number, trackStart: number, total: number): number {
  const s = Math.round((time - origin) * rate) - trackStart;
  return Math.max(0, Math.min(total, s));
}
