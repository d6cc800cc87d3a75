/**
 * The play queue as an immutable value: every operation returns a new Queue and keeps the
 * current entry current (the server's `Queue` row has the same rules, docs/native-api.md
 * "Queue"). Entries carry a client-unique `key` so the UI can key list rows even when a track
 * appears twice.
 */
import type { Track } from "./types";

export interface QueueEntry {
  key: number;
  track: Track;
}

let nextKey = 1;
function entry(track: Track): QueueEntry {
  return { key: nextKey++, track };
}

export class Queue {
  /** `current` is an index into `entries`, or null when nothing is selected. */
  private constructor(
    readonly entries: readonly QueueEntry[],
    readonly current: number | null,
  ) {}

  static empty(): Queue {
    return new Queue([], null);
  }

  /** A queue of `tracks` with `current` selected (clamped; null for an empty list). */
  static of(tracks: readonly Track[], current: number | null = 0): Queue {
    const entries = tracks.map(entry);
    return new Queue(entries, entries.length === 0 || current === null ? null : clamp(current, 0, entries.length - 1));
  }

  get length(): number {
    return this.entries.length;
  }

  get currentTrack(): Track | null {
    return this.current === null ? null : (this.entries[this.current]?.track ?? null);
  }

  /** The entry after the current one (what the engine prefetches), or null at the end. */
  get nextTrack(): Track | null {
    if (this.current === null) return null;
    return this.entries[this.current + 1]?.track ?? null;
  }

  /** Insert `tracks` right after the current entry (at the start when nothing is current). */
  playNext(tracks: readonly Track[]): Queue {
    const at = this.current === null ? 0 : this.current + 1;
    const entries = [...this.entries.slice(0, at), ...tracks.map(entry), ...this.entries.slice(at)];
    const current = this.current ?? (entries.length ? 0 : null);
    return new Queue(entries, current);
  }

  /** Add `tracks` at the end; an empty queue gets its first entry selected. */
  append(tracks: readonly Track[]): Queue {
    const entries = [...this.entries, ...tracks.map(entry)];
    return new Queue(entries, this.current ?? (entries.length ? 0 : null));
  }

  /** Move the entry at `from` to index `to` (both clamped); the current entry stays current. */
  move(from: number, to: number): Queue {
    const n = this.entries.length;
    if (n === 0) return this;
    from = clamp(from, 0, n - 1);
    to = clamp(to, 0, n - 1);
    if (from === to) return this;
    const entries = [...this.entries];
    const [moved] = entries.splice(from, 1);
    entries.splice(to, 0, moved as QueueEntry);
    let current = this.current;
    if (current !== null) {
      if (current === from) current = to;
      else if (from < current && to >= current) current -= 1;
      else if (from > current && to <= current) current += 1;
    }
    return new Queue(entries, current);
  }

  /** Remove the entry at `index`. Removing the current entry selects the one that follows
   * (or the new last one); an emptied queue has no current entry. */
  remove(index: number): Queue {
    if (index < 0 || index >= this.entries.length) return this;
    const entries = this.entries.filter((_, i) => i !== index);
    let current = this.current;
    if (current !== null) {
      if (entries.length === 0) current = null;
      else if (index < current) current -= 1;
      else if (index === current) current = Math.min(current, entries.length - 1);
    }
    return new Queue(entries, current);
  }

  /** Select entry `index` (clamped). */
  select(index: number): Queue {
    if (this.entries.length === 0) return this;
    return new Queue(this.entries, clamp(index, 0, this.entries.length - 1));
  }

  /** Shuffle everything except the current entry, which moves to the front (as the Subsonic
   * clients do: what plays keeps playing). `random` returns [0, 1). */
  shuffle(random: () => number = Math.random): Queue {
    const entries = [...this.entries];
    let head: QueueEntry[] = [];
    if (this.current !== null) head = entries.splice(this.current, 1);
    for (let i = entries.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [entries[i], entries[j]] = [entries[j] as QueueEntry, entries[i] as QueueEntry];
    }
    return new Queue([...head, ...entries], this.current === null ? null : 0);
  }

  /** The track ids in order (what `PUT /queue` takes). */
  trackIds(): string[] {
    return this.entries.map((e) => e.track.id);
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.trunc(v)));
}
