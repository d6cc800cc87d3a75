import { mount } from "svelte";
import "./app.css";
import App from "./ui/App.svelte";
import { toastError } from "./lib/toasts.svelte";
import { Player } from "./engine/player";
import { Queue } from "./engine/queue";

// The engine, for the browser engine tests (tests/web/test_engine_browser.py) and the console.
(window as unknown as { __orbEngine: unknown }).__orbEngine = { Player, Queue };

// Never an uncaught exception in the console: anything that escapes becomes a toast.
window.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  toastError(e.reason);
});
window.addEventListener("error", (e) => {
  if (e.error) {
    e.preventDefault();
    toastError(e.error);
  }
});

mount(App, { target: document.getElementById("app") as HTMLElement });
