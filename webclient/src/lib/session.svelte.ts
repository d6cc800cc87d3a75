/**
 * App-wide state: the signed-in user, the player and its state, and the sync with the server
 * (queue row shared with Subsonic's savePlayQueue, playback reports, the /events feed).
 */
import { Player, type PlayerState } from "../engine/player";
import { Queue } from "../engine/queue";
import type { Track } from "../engine/types";
import type { Tier } from "../engine/format";
import { ApiError, api, authFetch, currentUser, mediaUrl, onAuthChange, type Me, type ServerQueue } from "./api";
import { toastError } from "./toasts.svelte";

export const deviceId: string = (() => {
  try {
    let id = sessionStorage.getItem("orb.device");
    if (!id) sessionStorage.setItem("orb.device", (id = crypto.randomUUID()));
    return id;
  } catch {
    return crypto.randomUUID();
  }
})();
const deviceName = `Web (${navigator.platform || "browser"})`;

export const session = $state<{ me: Me | null; remote: { deviceName: string; trackId: string; state: string } | null; scan: { scanning: boolean; count: number } | null }>({
  me: currentUser(),
  remote: null,
  scan: null,
});

declare global {
  interface Window {
    /** e2e hook: an output tap (AudioWorklet) inserted after the gain node. */
    __orbOutput?: (ctx: AudioContext, gain: GainNode) => Promise<AudioNode | void>;
    __orbPlayer?: Player;
  }
}

/** A forced engine tier: `?tier=mse|webaudio|html5` in the URL (tests, diagnostics) or the
 * "Playback engine" setting (localStorage orb.tier); otherwise chosen per track by capability. */
function forcedTier(): Tier | null {
  const want = new URLSearchParams(location.search).get("tier") ?? localStorage.getItem("orb.tier");
  return want === "mse" || want === "webaudio" || want === "html5" ? want : null;
}

export const player = new Player({
  tier: forcedTier(),
  fetch: authFetch,
  mediaUrl,
  output: (ctx, gain) => window.__orbOutput?.(ctx, gain),
  report: (t: Track, submission: boolean) => {
    void api("POST", "/scrobbles", { trackId: t.id, submission }).catch(() => {});
  },
});
window.__orbPlayer = player;
try {
  player.setGainMode((localStorage.getItem("orb.gain") as "off" | "track" | "album" | null) ?? "track");
  const xf = Number(localStorage.getItem("orb.crossfade") ?? 0);
  if (xf > 0) void player.setCrossfade(xf);
  const eq = localStorage.getItem("orb.eq");
  if (eq) player.setEqualiser(JSON.parse(eq) as number[]);
} catch {
  /* a bad saved setting is ignored */
}

export const ps = $state<{ s: PlayerState }>({ s: player.state });
let lastTrack: string | null = null;
let lastPlaying = false;
player.subscribe((s) => {
  ps.s = s;
  const changed = s.track?.id !== lastTrack || s.playing !== lastPlaying;
  lastTrack = s.track?.id ?? null;
  lastPlaying = s.playing;
  if (changed) {
    reportPlayback();
    saveCurrent();
  }
});

let lastReported: string | null = null;
function reportPlayback(): void {
  const t = ps.s.track;
  // "stopped" names the track that stopped (POST /playback needs a trackId): nothing
  // played yet, nothing to report.
  const trackId = t?.id ?? lastReported;
  if (!session.me || !trackId) return;
  lastReported = trackId;
  void api("POST", "/playback", {
    deviceId,
    deviceName,
    trackId,
    positionMs: Math.round(player.positionMs()),
    state: t ? (ps.s.playing ? "playing" : "paused") : "stopped",
  }).catch(() => {});
}

let saveTimer: ReturnType<typeof setTimeout> | null = null;
/** Local queue edits (play, edit) so far: a server queue fetched for a `queue` event is
 * applied only when no edit came in between. */
let localEdits = 0;
/** PUT /queue requests not answered yet. */
let savesInFlight = 0;
/** Write the whole queue (PUT /queue), debounced: one request per burst of edits. */
export function saveQueue(): void {
  if (saveTimer) clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    saveTimer = null;
    const q = player.queue;
    savesInFlight++;
    void api<ServerQueue>("PUT", "/queue", { trackIds: q.trackIds(), currentIndex: q.current, positionMs: Math.round(player.positionMs()) })
      .catch(toastError)
      .finally(() => savesInFlight--);
  }, 300);
}

function saveCurrent(): void {
  const q = player.queue;
  if (!session.me || q.current === null || saveTimer) return;
  void api("PUT", "/queue/current", { index: q.current, positionMs: Math.round(player.positionMs()) }).catch(() => {});
}

setInterval(() => {
  if (ps.s.playing) {
    reportPlayback();
    saveCurrent();
  }
}, 10_000);

/** Replace the queue with `tracks`, start at `index`. */
export async function playTracks(tracks: Track[], index = 0): Promise<void> {
  localEdits++;
  await player.playQueue(Queue.of(tracks, index));
  saveQueue();
}

export async function editQueue(f: (q: Queue) => Queue): Promise<void> {
  localEdits++;
  await player.updateQueue(f(player.queue));
  saveQueue();
}

/** Load the server's queue (reload resumes where it was; a second device sees it). */
export async function loadServerQueue(autoplay = false): Promise<void> {
  try {
    const sq = await api<ServerQueue>("GET", "/queue");
    if (!sq || !sq.entries.length) return;
    const q = Queue.of(sq.entries.map((e) => e.track), sq.currentIndex ?? 0);
    await player.playQueue(q, sq.positionMs, autoplay);
  } catch (e) {
    // No saved queue (or no queue route on this server): start empty, silently.
    if (!(e instanceof ApiError && e.status === 404)) toastError(e);
  }
}

export async function takeOver(): Promise<void> {
  await api("POST", "/playback/takeover", { deviceId }).catch(toastError);
  await loadServerQueue(true);
  session.remote = null;
}

// ---- /events (SSE over fetch, so the bearer header is sent; EventSource cannot) ----
let events: AbortController | null = null;

async function listen(): Promise<void> {
  events?.abort();
  const ctl = new AbortController();
  events = ctl;
  let delay = 1000;
  while (!ctl.signal.aborted && session.me) {
    try {
      const r = await authFetch("/api/v1/events", { signal: ctl.signal, headers: { Accept: "text/event-stream" } });
      if (r.status === 404) return; // the feed is not on this server yet
      if (!r.ok || !r.body) throw new Error(`events: HTTP ${r.status}`);
      delay = 1000;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i: number;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let ev = "message";
            let data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) ev = line.slice(6).trim();
              else if (line.startsWith("data:")) data += line.slice(5).trim();
            }
            // One bad event must not end the feed (and reconnect with this one still open).
            if (data) {
              try {
                onEvent(ev, data);
              } catch (e) {
                console.warn("event", ev, "not handled:", e);
              }
            }
          }
        }
      } finally {
        // Whatever ends the loop, release the response: an abandoned stream keeps its
        // connection, and Chromium gives a host 6 (HTTP/1.1), after which every request of
        // the page waits for one — the "log out everywhere" that never went out.
        reader.cancel().catch(() => {});
      }
    } catch {
      if (ctl.signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 30_000);
  }
}

function onEvent(ev: string, data: string): void {
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return;
  }
  if (ev === "playback" && d.deviceId !== deviceId) {
    session.remote = d.state === "stopped" ? null : { deviceName: String(d.deviceName ?? "another device"), trackId: String(d.trackId ?? ""), state: String(d.state) };
  } else if (ev === "takeover" && d.deviceId !== deviceId && ps.s.playing) {
    void player.pause();
  } else if (ev === "queue") {
    void followQueue(d as unknown as QueueEvent);
  } else if (ev === "scan") {
    session.scan = { scanning: Boolean(d.scanning), count: Number(d.count ?? 0) };
  }
}

/** `event: queue` (docs/native-api.md "Real-time"): the Queue with a `trackId` per entry
 * instead of the Track. */
interface QueueEvent {
  entries?: { index: number; trackId: string }[];
  currentIndex: number | null;
  positionMs?: number;
}

/** Another device changed the queue: when this one is idle, load it (GET /queue has the
 * tracks). Not while this device plays, starts a track (a play in progress would be replaced
 * by a paused load of the old queue) or has a write of its own pending or in flight (the
 * event may be the echo of an older write than what is shown here); and a local edit made
 * while GET /queue runs wins over its answer. */
async function followQueue(ev: QueueEvent): Promise<void> {
  const busy = () => ps.s.playing || ps.s.loading || saveTimer !== null || savesInFlight > 0;
  if (!Array.isArray(ev.entries) || busy()) return;
  const mine = player.queue;
  if (ev.currentIndex === mine.current && JSON.stringify(ev.entries.map((e) => e.trackId)) === JSON.stringify(mine.trackIds())) return;
  const edits = localEdits;
  const sq = await api<ServerQueue>("GET", "/queue").catch(() => null);
  if (!sq || !Array.isArray(sq.entries) || edits !== localEdits || busy()) return;
  await player.playQueue(Queue.of(sq.entries.map((e) => e.track), sq.currentIndex ?? 0), sq.positionMs ?? 0, false);
}

export function startSession(): void {
  if (!session.me) return;
  void loadServerQueue(false);
  void listen();
  // the playback engine's lazy MSE chunk, fetched once the page is idle
  const idle = (window as { requestIdleCallback?: (f: () => void) => void }).requestIdleCallback ?? ((f: () => void) => setTimeout(f, 500));
  idle(() => player.prefetch());
}

onAuthChange((me) => {
  session.me = me;
  if (!me) {
    events?.abort();
    void player.stop();
  }
});
