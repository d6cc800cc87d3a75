/**
 * The native API client (docs/native-api.md): bearer tokens kept in localStorage, refreshed
 * on a 401 once (the refresh token rotates), problem+json errors turned into ApiError.
 * Media URLs (`<audio>`, `<img>`) carry `?token=` because elements cannot send headers.
 */
import type { Track } from "../engine/types";

export const BASE = "/api/v1";

export interface Me {
  id: string;
  username: string;
  email: string | null;
  admin: boolean;
  roles: string[];
  folders: number[] | null;
  maxBitRate: number | null;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  tokenType: "Bearer";
  expiresIn: number;
  session: string;
  user: Me;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface AlbumSummary {
  id: string;
  name: string;
  artist: string | null;
  artistId: string | null;
  year: number | null;
  genres: string[];
  trackCount: number;
  durationMs: number;
  coverArt: string | null;
  added: string | null;
  starred: string | null;
  rating: number;
  playCount: number;
}
export interface AlbumDetail extends AlbumSummary {
  discs: { disc: number; subtitle: string | null; tracks: Track[] }[];
}
export interface ArtistSummary {
  id: string;
  name: string;
  albumCount: number;
  trackCount: number;
  coverArt: string | null;
  starred: string | null;
}
export interface ArtistDetail extends ArtistSummary {
  albums: AlbumSummary[];
}
export interface Playlist {
  id: string;
  name: string;
  comment: string | null;
  owner: string;
  public: boolean;
  readOnly: boolean;
  smart: boolean;
  trackCount: number;
  durationMs: number;
  coverArt: string | null;
  created: string;
  changed: string;
}
export interface PlaylistDetail extends Playlist {
  entries: { position: number; track: Track }[];
  rules: unknown | null;
}
export interface ServerQueue {
  entries: { index: number; track: Track }[];
  currentIndex: number | null;
  positionMs: number;
  changed: string;
  changedBy: string | null;
}
export interface LyricsSet {
  lang: string;
  synced: boolean;
  offsetMs: number;
  lines: { startMs: number | null; text: string }[];
}
export interface SearchResult {
  artists: ArtistSummary[];
  albums: AlbumSummary[];
  tracks: Track[];
}
export interface SessionInfo {
  id: string;
  client: string | null;
  created: string;
  lastSeen: string;
  current: boolean;
}
export interface ApiKey {
  id: number | string;
  name: string;
  created: string;
  lastUsed: string | null;
  /** Only in the answer to POST /api-keys. */
  key?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly route: string,
  ) {
    super(message);
  }
}

const STORE = "orb.tokens";

interface Stored {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
  user: Me;
}

function load(): Stored | null {
  try {
    const raw = localStorage.getItem(STORE);
    return raw ? (JSON.parse(raw) as Stored) : null;
  } catch {
    return null;
  }
}

let tokens: Stored | null = typeof localStorage === "undefined" ? null : load();
let refreshing: Promise<boolean> | null = null;
const authListeners = new Set<(me: Me | null) => void>();

export function onAuthChange(fn: (me: Me | null) => void): () => void {
  authListeners.add(fn);
  return () => authListeners.delete(fn);
}

function save(t: Tokens | null): void {
  tokens = t ? { accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: Date.now() + t.expiresIn * 1000, user: t.user } : null;
  if (tokens) localStorage.setItem(STORE, JSON.stringify(tokens));
  else localStorage.removeItem(STORE);
  for (const fn of authListeners) fn(tokens?.user ?? null);
}

export function currentUser(): Me | null {
  return tokens?.user ?? null;
}

/** A URL from the API (absolute path, absolute URL, or relative to /api/v1). */
export function apiUrl(path: string): string {
  if (/^https?:/.test(path) || path.startsWith("/")) return path;
  return `${BASE}/${path}`;
}

/** A media URL with ?token= for `<audio>` and `<img>`. */
export function mediaUrl(path: string): string {
  const url = apiUrl(path);
  if (!tokens) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(tokens.accessToken);
}

export function coverUrl(coverArt: string | null, size = 300): string | null {
  return coverArt ? mediaUrl(`${BASE}/covers/${encodeURIComponent(coverArt)}?size=${size}`) : null;
}

async function refresh(): Promise<boolean> {
  const t = tokens;
  if (!t) return false;
  refreshing ??= (async () => {
    try {
      const r = await fetch(`${BASE}/auth/refresh`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refreshToken: t.refreshToken }),
      });
      if (!r.ok) {
        save(null);
        return false;
      }
      save((await r.json()) as Tokens);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** fetch() with the bearer token; refreshes once on 401 (and ahead of expiry). */
export async function authFetch(url: string, init: RequestInit = {}): Promise<Response> {
  if (tokens && tokens.expiresAt - Date.now() < 30_000) await refresh();
  const go = () => {
    const headers = new Headers(init.headers);
    if (tokens) headers.set("Authorization", `Bearer ${tokens.accessToken}`);
    return fetch(apiUrl(url), { ...init, headers });
  };
  let r = await go();
  if (r.status === 401 && tokens && (await refresh())) r = await go();
  return r;
}

async function problem(r: Response, route: string): Promise<ApiError> {
  let code = "http-" + r.status;
  let detail = `${route}: HTTP ${r.status}`;
  try {
    const p = (await r.json()) as { code?: string; detail?: string; title?: string; errors?: { field: string; message: string }[] };
    code = p.code ?? code;
    detail = p.errors?.length ? p.errors.map((e) => `${e.field}: ${e.message}`).join("; ") : (p.detail ?? p.title ?? detail);
  } catch {
    /* not problem+json */
  }
  return new ApiError(r.status, code, detail, route);
}

/** Call a JSON route: `api("GET", "/albums", undefined, {limit: 50})`. Raises ApiError. */
export async function api<T>(method: string, path: string, body?: unknown, query?: Record<string, string | number | boolean | null | undefined>): Promise<T> {
  let url = BASE + path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") qs.set(k, String(v));
    const s = qs.toString();
    if (s) url += "?" + s;
  }
  const init: RequestInit = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  if (method !== "GET") (init.headers as Record<string, string>)["Idempotency-Key"] = crypto.randomUUID();
  let r: Response;
  try {
    r = await authFetch(url, init);
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached", `${method} ${path}`);
  }
  if (!r.ok) throw await problem(r, `${method} ${path}`);
  if (r.status === 204 || r.status === 202) return (r.status === 202 ? await r.json().catch(() => null) : null) as T;
  return (await r.json()) as T;
}

export async function login(username: string, password: string): Promise<Me> {
  const r = await fetch(`${BASE}/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password, client: "Orbsonic web" }),
  }).catch(() => null);
  if (!r) throw new ApiError(0, "network", "The server cannot be reached", "POST /auth/login");
  if (!r.ok) throw await problem(r, "POST /auth/login");
  const t = (await r.json()) as Tokens;
  save(t);
  return t.user;
}

export async function logout(all = false): Promise<void> {
  try {
    await api("POST", all ? "/auth/logout-all" : "/auth/logout");
  } finally {
    save(null);
  }
}
