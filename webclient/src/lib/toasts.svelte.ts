/** Error and info toasts: every failed call ends here, never in an uncaught exception. */
import { ApiError } from "./api";

export interface Toast {
  id: number;
  kind: "error" | "info";
  text: string;
}

export const toasts = $state<{ list: Toast[] }>({ list: [] });
let n = 0;

export function toast(text: string, kind: Toast["kind"] = "info"): void {
  const id = ++n;
  toasts.list = [...toasts.list, { id, kind, text }];
  setTimeout(() => dismiss(id), kind === "error" ? 8000 : 3500);
}

export function dismiss(id: number): void {
  toasts.list = toasts.list.filter((t) => t.id !== id);
}

export function toastError(e: unknown): void {
  if (e instanceof ApiError) {
    if (e.status === 404 && e.message.startsWith("no route")) toast(`This server does not offer ${e.route} yet`, "error");
    else toast(e.message, "error");
  } else toast(e instanceof Error ? e.message : String(e), "error");
}

/** Run `fn`, toasting any error; returns undefined on failure. */
export async function attempt<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    toastError(e);
    return undefined;
  }
}
