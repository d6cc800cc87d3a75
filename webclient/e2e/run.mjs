// End-to-end flows of the bundled client in real Chromium against a real Orbsonic server.
// Usage: node e2e/run.mjs <baseUrl> <username> <password> <screenshotDir>
// Prints one JSON line: {flows: {name: {ok, error?, missing: [route...], ...metrics}}}.
// A flow that hit a native route the server does not have yet (404 "no route ...") lists it
// in `missing`, so the pytest driver can xfail exactly that.
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { LAUNCH_ARGS, TAP_INIT } from "./tap.mjs";

const [base, user, password, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: LAUNCH_ARGS });
const flows = {};
let current = null;
// ORB_E2E_ONLY=a,b,c runs only those flows (name their dependencies too): targeted debugging.
const only = process.env.ORB_E2E_ONLY ? process.env.ORB_E2E_ONLY.split(",") : null;
let lastPage = null;

const pending = new Map(); // request → "pPAGE METHOD url" (what a failed flow was waiting on)
let pages = 0;
const evlog = new Map(); // /events request → [page, start ms, end ms, how, flow] (diagnostics)
const T0 = Date.now();
function watch(page) {
  const tag = `p${++pages}`;
  page.on("request", (r) => {
    pending.set(r, `${tag} ${r.method()} ${r.url().replace(base, "")}`);
    if (r.url().includes("/events")) evlog.set(r, [tag, Date.now() - T0, null, null, current && Object.keys(flows).at(-1)]);
  });
  const end = (how) => (r) => {
    pending.delete(r);
    const e = evlog.get(r);
    if (e) { e[2] = Date.now() - T0; e[3] = how === "failed" ? `failed ${r.failure()?.errorText}` : how; }
  };
  page.on("requestfinished", end("finished"));
  page.on("requestfailed", end("failed"));
  page.on("pageerror", (e) => current && (current.pageErrors ??= []).push(String(e)));
  page.on("console", (m) => { if (m.type() === "error" && current) (current.consoleErrors ??= []).push(m.text()); });
  page.on("response", async (r) => {
    if (r.status() >= 400 && r.status() !== 404 && r.url().includes("/api/v1/") && current) {
      const body = await r.text().catch(() => "");
      (current.httpErrors ??= []).push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname} ${r.request().postData() ?? ""} -> ${body.slice(0, 300)}`);
    }
    if (r.status() !== 404 || !r.url().includes("/api/v1/") || !current) return;
    try {
      const body = await r.json();
      if (String(body.detail ?? "").startsWith("no route")) {
        const route = `${r.request().method()} ${new URL(r.url()).pathname}`;
        if (!current.missing.includes(route)) current.missing.push(route);
      }
    } catch { /* not JSON */ }
  });
}

// A flow runs only when the flows it needs passed; otherwise it inherits their missing
// routes (so "log in" missing xfails everything after it, naming POST /auth/login).
async function flow(name, deps, fn) {
  if (only && !only.includes(name)) return;
  const failed = deps.filter((d) => !flows[d]?.ok);
  if (failed.length) {
    flows[name] = { ok: false, skipped: true, missing: [...new Set(failed.flatMap((d) => flows[d]?.missing ?? []))], error: `needs ${failed.join(", ")}` };
    return;
  }
  current = flows[name] = { ok: false, missing: [] };
  const started = Date.now();
  try {
    Object.assign(current, (await fn()) ?? {});
    current.ok = true;
  } catch (e) {
    current.error = String(e && e.message ? e.message : e).slice(0, 800);
    if (lastPage) {
      current.url = lastPage.url();
      current.pending = [...pending.values()].slice(0, 20).map((p) => p.replace(/token=[^&]+/, "token=…"));
      current.events = [...evlog.values()];
      current.evCalls = await lastPage.evaluate(() => window.__evCalls).catch(() => null);
      await lastPage.screenshot({ path: `${shots}/failed-${name}.png` }).catch(() => {});
    }
  }
  current.ms = Date.now() - started;
}

async function newPage(ctx) {
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  watch(page);
  lastPage ??= page;
  await page.addInitScript(TAP_INIT);
  // diagnostics of a failed flow: when and from where each /events fetch was made
  await page.addInitScript(() => {
    const f = window.fetch;
    window.__evCalls = [];
    window.fetch = function (u, i) {
      if (String(u).includes("/events")) window.__evCalls.push([Math.round(performance.now()), new Error().stack.split("\n").slice(2, 6).join(" | ")]);
      return f.call(this, u, i);
    };
    const set = Storage.prototype.setItem, rm = Storage.prototype.removeItem;
    Storage.prototype.setItem = function (k, v) {
      if (k === "orb.tokens") window.__evCalls.push([Math.round(performance.now()), "tokens saved | " + new Error().stack.split("\n").slice(2, 5).join(" | ")]);
      return set.call(this, k, v);
    };
    Storage.prototype.removeItem = function (k) {
      if (k === "orb.tokens") window.__evCalls.push([Math.round(performance.now()), "tokens removed | " + new Error().stack.split("\n").slice(2, 5).join(" | ")]);
      return rm.call(this, k);
    };
  });
  return page;
}

async function login(page) {
  await page.goto(base + "/#/login");
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("navigation", { name: "Library" }).waitFor({ timeout: 8000 });
}

// The album grid is virtualised: only the rows in view are in the DOM. Scroll it as a user
// would until the album's tile is rendered (with the queue panel open, fewer columns fit and
// an album that was in view may not be).
async function openAlbum(page, name) {
  await page.goto(base + "/#/albums");
  await page.getByTestId("album-grid").locator("a").first().waitFor({ timeout: 8000 });
  const link = page.getByTestId("album-grid").getByRole("link", { name });
  for (let i = 0; i < 60 && !(await link.count()); i++) {
    await page.locator("main").evaluate((m) => m.scrollBy(0, 300));
    await page.waitForTimeout(30);
  }
  await link.first().click();
}

const shot = (page, name) => page.screenshot({ path: `${shots}/${name}.png` });

async function playAndMeasure(page, albumName, badge) {
  await openAlbum(page, new RegExp(albumName));
  await page.getByRole("button", { name: "▶ Play" }).waitFor();
  // silence first: what played before must not count as this click's sound
  await page.evaluate(() => window.__orbPlayer.stop());
  await page.waitForTimeout(200);
  // __tClick: before Playwright's click (which first waits for the button to be stable over
  // animation frames, scrolls and hovers: tens of ms under load); the capture listener
  // notes when the click event itself reaches the page.
  await page.evaluate(() => {
    window.__tap.firstSoundAt = null; window.__tClick = performance.now(); window.__tClickEvent = null;
    document.addEventListener("click", () => { window.__tClickEvent ??= performance.now(); }, { capture: true, once: true });
  });
  await page.getByRole("button", { name: "▶ Play" }).click();
  try {
    await page.waitForFunction(() => window.__tap.firstSoundAt !== null, null, { timeout: 8000 });
  } catch (e) {
    const st = await page.evaluate(() => {
      const p = window.__orbPlayer, s = p.state, el = p.engine && p.engine.el;
      return { tier: s.tier, loading: s.loading, playing: s.playing, error: s.error, track: s.track && s.track.title, position: p.positionMs(),
        clicked: window.__tClickEvent !== null, ctx: p.engine && p.engine.ctx && p.engine.ctx.state,
        el: el && { paused: el.paused, readyState: el.readyState, currentTime: el.currentTime, error: el.error && el.error.message },
        marks: performance.getEntriesByType("mark").filter((m) => m.name.startsWith("orb:")).map((m) => [m.name, Math.round(m.startTime - window.__tClick)]) };
    }).catch(() => null);
    throw new Error(`${e.message} — player: ${JSON.stringify(st)}`);
  }
  const clickToSoundMs = await page.evaluate(() => window.__tap.firstSoundAt - window.__tClick);
  // where the time went: the engine's orb:* marks since the click, and the first sound
  const phases = await page.evaluate(() => Object.fromEntries([
    ...performance.getEntriesByType("mark").filter((m) => m.name.startsWith("orb:") && m.startTime >= window.__tClick)
      .map((m) => [m.name.slice(4), Math.round(m.startTime - window.__tClick)]),
    ["click", Math.round(window.__tClickEvent - window.__tClick)],
    ["sound", Math.round(window.__tap.firstSoundAt - window.__tClick)]]));
  const eventToSoundMs = await page.evaluate(() => window.__tap.firstSoundAt - window.__tClickEvent);
  await page.getByTestId("format-badge").filter({ hasText: badge }).waitFor({ timeout: 5000 });
  const tier = await page.evaluate(() => window.__orbPlayer.state.tier);
  return { clickToSoundMs, eventToSoundMs, phases, tier, badge: await page.getByTestId("format-badge").textContent() };
}

try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await newPage(ctx);

  await flow("first-paint", [], async () => {
    await page.goto(base + "/");
    await page.getByRole("button", { name: "Log in" }).waitFor();
    const fcp = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null);
    await shot(page, "login");
    if (fcp === null) throw new Error("no first-contentful-paint entry");
    return { fcpMs: fcp };
  });

  await flow("login", ["first-paint"], async () => {
    await login(page);
    await page.getByRole("button", { name: "User menu" }).filter({ hasText: user }).waitFor();
  });

  await flow("settings-sessions", ["login"], async () => {
    await page.goto(base + "/#/settings");
    await page.getByRole("heading", { name: "Sessions" }).waitFor();
    await page.getByText("(this one)").waitFor();
    await shot(page, "settings");
  });

  await flow("browse", ["login"], async () => {
    await page.goto(base + "/#/albums");
    await page.getByTestId("album-grid").locator("a").first().waitFor({ timeout: 8000 });
    await shot(page, "album-grid");
    await page.getByRole("link", { name: /Vespertine/ }).first().click();
    await page.getByRole("heading", { name: "Vespertine" }).waitFor();
    await page.getByRole("button", { name: "Play Cocoon", exact: true }).waitFor();
    await shot(page, "album");
    await page.getByRole("link", { name: "Björk" }).first().click();
    await page.getByRole("heading", { name: "Björk" }).waitFor();
  });

  await flow("search", ["login"], async () => {
    await page.getByLabel("Search the library").fill("Cocoo");
    await page.getByRole("button", { name: "Play Cocoon", exact: true }).waitFor({ timeout: 5000 });
    await shot(page, "search");
  });

  await flow("play-flac-16-44", ["browse"], () => playAndMeasure(page, "Vespertine", "FLAC · 16 bit · 44.1 kHz"));

  await flow("play-flac-24-96", ["browse"], async () => {
    const r = await playAndMeasure(page, "Solo", "FLAC · 24 bit · 96 kHz");
    await page.goto(base + "/#/now-playing");
    await page.getByRole("heading", { level: 1 }).waitFor();
    await shot(page, "now-playing");
    return r;
  });

  await flow("seek-exact", ["play-flac-24-96"], async () => {
    // an exact time inside the track (the test library's files are a few seconds long)
    const dur = await page.evaluate(() => window.__orbPlayer.state.track.durationMs);
    const target = Math.min(1500.5, Math.floor(dur / 2) + 0.5);
    const t0 = await page.evaluate(() => performance.now());
    // the position as the seek returns (a second evaluate would read it some ms into playback)
    const pos = await page.evaluate(async (ms) => { window.__tap.firstSoundAt = null; await window.__orbPlayer.seek(ms); return window.__orbPlayer.positionMs(); }, target);
    await page.waitForFunction(() => window.__tap.firstSoundAt !== null, null, { timeout: 5000 });
    const seekToSoundMs = await page.evaluate((t) => window.__tap.firstSoundAt - t, t0);
    const rate = await page.evaluate(() => window.__orbPlayer.state.track.sampleRate);
    if (Math.abs(pos - target) > 1000 / rate) throw new Error(`position ${pos} after a seek to ${target}`);
    return { position: pos, seekToSoundMs };
  });

  await flow("queue-panel", ["login"], async () => {
    await page.getByRole("button", { name: "Queue", exact: true }).click();
    await page.getByRole("complementary", { name: "Queue" }).waitFor();
    await shot(page, "queue");
  });

  await flow("playlist-edit", ["browse"], async () => {
    const name = `E2E ${Date.now()}`;
    await page.goto(base + "/#/playlists");
    await page.getByLabel("New playlist name").fill(name);
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { name }).waitFor();
    const plUrl = page.url();
    await openAlbum(page, /Vespertine/);
    await page.getByRole("heading", { name: "Vespertine" }).waitFor();
    const sel = page.getByLabel("Add to playlist");
    await sel.focus();
    await page.waitForFunction((n) => [...document.querySelectorAll("select option")].some((o) => o.textContent === n), name);
    await sel.selectOption({ label: name });
    await page.getByText("Added to the playlist").waitFor();
    await page.goto(plUrl);
    const entries = page.getByTestId("playlist-entry");
    await entries.first().waitFor();
    const before = await entries.allTextContents();
    await page.getByRole("button", { name: /^Move .* down$/ }).first().click();
    await page.waitForFunction((b) => document.querySelector('[data-testid="playlist-entry"]')?.textContent !== b, before[0]);
    // the playlist's own buttons (the queue panel, open since queue-panel, has Remove buttons too)
    await page.getByRole("main").getByRole("button", { name: /^Remove .* from the playlist$/ }).last().click();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="playlist-entry"]').length === n, before.length - 1);
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByText("Playlist deleted").waitFor();
    return { entries: before.length };
  });

  await flow("queue-follows-second-context", ["login"], async () => {
    const ids = await page.evaluate(() => window.__orbPlayer.queue.trackIds());
    await page.waitForTimeout(800); // the debounced PUT /queue
    const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p2 = await newPage(ctx2);
    await login(p2);
    await p2.waitForFunction((want) => JSON.stringify(window.__orbPlayer.queue.trackIds()) === JSON.stringify(want), ids, { timeout: 8000 });
    const title = await page.evaluate(() => window.__orbPlayer.state.track?.title);
    await p2.getByRole("contentinfo", { name: "Player" }).getByText(title).waitFor();
    await ctx2.close();
    return { tracks: ids.length };
  });

  await flow("gapless-sine", ["browse"], async () => {
    await openAlbum(page, /Gapless Sine 44100/);
    await page.getByRole("button", { name: "▶ Play" }).waitFor();
    await page.evaluate(() => window.__orbPlayer.stop());
    await page.evaluate(() => { window.__tap.blocks = []; window.__tap.armed = true; });
    await page.getByRole("button", { name: "▶ Play" }).click();
    await page.waitForFunction(() => window.__orbPlayer.state.queue.current === 1 && window.__orbPlayer.positionMs() > 1500, null, { timeout: 20000 });
    const an = await page.evaluate(() => { window.__tap.armed = false; return window.__analyseSine(441); });
    const st = await page.evaluate(() => ({ tier: window.__orbPlayer.state.tier, gapless: window.__orbPlayer.state.gapless }));
    if (!(an.maxResidual < 0.02 && an.minRms > (0.5 * an.peak) / Math.SQRT2 * 0.8)) throw new Error(`discontinuity: ${JSON.stringify(an)}`);
    return { analysis: an, ...st };
  });

  await flow("phone-width", ["browse"], async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(base + "/#/albums");
    await page.getByTestId("album-grid").locator("a").first().waitFor({ timeout: 5000 });
    await shot(page, "phone");
    await page.setViewportSize({ width: 1280, height: 800 });
  });
  await flow("logout-everywhere", ["login"], async () => {
    // After every flow's queue changes the page still holds ONE events stream: a leaked one
    // per queue event used up Chromium's 6 connections per host, and the logout below (like
    // every later request) then never left the browser.
    const open = [...evlog.values()].filter((e) => e[0] === "p1" && e[2] === null).length;
    if (open !== 1) throw new Error(`the page holds ${open} open /events streams`);
    const c2 = await browser.newContext();
    const p2 = await newPage(c2);
    await login(p2);
    await page.goto(base + "/#/settings");
    await page.getByRole("button", { name: "Log out everywhere" }).click();
    await page.getByRole("button", { name: "Log in" }).waitFor();
    // the other session is revoked too: its next call is refused and it falls back to the login form
    await p2.goto(base + "/#/settings");
    await p2.reload();
    await p2.getByRole("button", { name: "Log in" }).waitFor({ timeout: 8000 });
    await c2.close();
  });
  await ctx.close();

  // Settings → API keys with an API key as the bearer token (keys are valid bearer tokens,
  // docs/native-api.md "Auth"), so this runs against the real /api-keys routes even
  // before POST /auth/login exists.
  await flow("settings-api-keys", [], async () => {
    const key = process.env.ORB_E2E_API_KEY;
    if (!key) throw new Error("ORB_E2E_API_KEY not set");
    const c = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await c.addInitScript(([k, u]) => {
      localStorage.setItem("orb.tokens", JSON.stringify({ accessToken: k, refreshToken: "", expiresAt: Date.now() + 86400e3,
        user: { id: "", username: u, email: null, admin: true, roles: [], folders: null, maxBitRate: null } }));
    }, [key, user]);
    const p = await newPage(c);
    await p.goto(base + "/#/settings");
    await p.getByRole("heading", { name: "API keys" }).waitFor();
    const keys = p.getByTestId("api-key");
    await keys.first().waitFor();
    const before = await keys.count();
    const name = `e2e-${Date.now()}`;
    await p.getByLabel("API key name").fill(name);
    await p.getByRole("button", { name: "Create key" }).click();
    await p.getByText("New key (shown once)").waitFor();
    await p.getByTestId("api-key").filter({ hasText: name }).waitFor();
    if ((await keys.count()) !== before + 1) throw new Error("the new key is not listed once");
    await shot(p, "settings-api-keys");
    await p.getByRole("button", { name: `Revoke ${name}` }).click();
    await p.getByTestId("api-key").filter({ hasText: name }).waitFor({ state: "detached" });
    await c.close();
    return { keysBefore: before };
  });
} finally {
  await browser.close();
}
console.log(JSON.stringify({ flows }));
