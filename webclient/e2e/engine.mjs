// Engine test in real Chromium: play a queue of tracks through the engine (no UI) and
// measure the output with the AudioWorklet tap. Usage:
//   node e2e/engine.mjs <baseUrl> <tracks.json> <sineHz> [decoder] [tier] [crossfadeS hz2]
// (a decoder, native or wasm, implies the Web Audio tier; tier: mse, webaudio or html5;
// with hz2 the second track is a sine of that frequency and `mix` measures their overlap)
// ORB_ENGINE_WARM=1: Player.warm(first track) before the play, as a shown Play button does.
// Prints one JSON line: {tier, decoder, analysis, clickToSoundMs, seek, startRequests}.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { LAUNCH_ARGS, TAP_INIT } from "./tap.mjs";

const [base, tracksFile, hz, decoder, forceTier, crossfade, hz2] = process.argv.slice(2);
const tracks = JSON.parse(readFileSync(tracksFile, "utf8"));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: LAUNCH_ARGS });
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => process.env.ORB_DEBUG && console.error(m.text()));
  await page.addInitScript(TAP_INIT);
  await page.goto(base + "/");
  await page.waitForFunction(() => window.__orbEngine);
  const out = await page.evaluate(async ({ warm, tracks, hz, decoder, forceTier, crossfade, hz2 }) => {
    const { Player, Queue } = window.__orbEngine;
    // every request the engine makes: [ms since page start, url, Range]
    const requests = [];
    const logged = (u, i) => { requests.push([performance.now(), u, new Headers(i && i.headers).get("Range")]); return fetch(u, i); };
    const p = new Player({ fetch: logged, mediaUrl: (u) => u, output: window.__orbOutput, report: () => {}, tier: forceTier || (decoder ? "webaudio" : null), ...(decoder ? { decoder } : {}) });
    const errs = [];
    if (crossfade) await p.setCrossfade(crossfade);
    p.subscribe((s) => { if (s.error) errs.push(s.error); });
    const until = (f, ms) => new Promise((res) => { const s = performance.now(); const iv = setInterval(() => { if (f() || performance.now() - s > ms) { clearInterval(iv); res(f()); } }, 20); });
    if (warm) {
      // what a Play button shown (or hovered) does before the click: fetch the start's bytes
      p.warm(tracks[0]);
      await until(() => requests.length >= 2, 5000);
      await new Promise((r) => setTimeout(r, 500));
    }
    window.__tap.armed = true;
    const t0 = performance.now();
    await p.playQueue(Queue.of(tracks), 0, true);
    await until(() => window.__tap.firstSoundAt !== null, 5000);
    const clickToSoundMs = window.__tap.firstSoundAt === null ? null : window.__tap.firstSoundAt - t0;
    const sound = window.__tap.firstSoundAt ?? Infinity;
    // the requests of the start: before the click (warm) and between the click and the sound
    const startRequests = { before: requests.filter((r) => r[0] < t0).map((r) => [r[1], r[2]]),
      untilSound: requests.filter((r) => r[0] >= t0 && r[0] <= sound).map((r) => [r[1], r[2]]) };
    const tier = p.state.tier, decoderKind = p.engine && p.engine.decoderKind, bitDepth = p.engine && p.engine.decodedBitDepth, gapless = p.state.gapless, badge = p.state.badge;
    const last = tracks.length - 1;
    const total = tracks.reduce((a, t) => a + t.durationMs, 0);
    await until(() => p.state.queue.current === last && p.positionMs() > Math.min(1500, tracks[last].durationMs - 500), total + 8000);
    const reached = p.state.queue.current;
    window.__tap.armed = false;
    const analysis = window.__analyseSine(hz);
    const mix = hz2 ? window.__analyseMix(hz, hz2) : null;
    // exact seek: to 1234.5 ms into the last track, then read the position right after
    const target = 1234.5;
    const ts = performance.now();
    window.__tap.firstSoundAt = null;
    await p.seek(target);
    const seekPos = p.positionMs();
    await until(() => window.__tap.firstSoundAt !== null, 3000);
    const seekToSoundMs = window.__tap.firstSoundAt === null ? null : window.__tap.firstSoundAt - ts;
    await p.stop();
    return { startRequests, mix, crossfade: p.crossfade, tier, decoder: decoderKind, decodedBitDepth: bitDepth, gapless, badge, reached, clickToSoundMs, analysis, seek: { target, position: seekPos, seekToSoundMs }, errors: errs, contexts: window.__tap.contexts };
  }, { warm: !!process.env.ORB_ENGINE_WARM, tracks, hz: Number(hz), decoder: decoder || null, forceTier: forceTier || null, crossfade: Number(crossfade || 0), hz2: Number(hz2 || 0) });
  out.pageErrors = errors;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
