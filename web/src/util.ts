/** Small DOM helpers shared by the views. */

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page: no element #${id}`);
  return el as T;
}

/** Creates an element with attributes/properties and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, string | number | boolean | undefined | ((ev: Event) => unknown)> = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('data-') || k === 'role' || k.startsWith('aria-') || k === 'title' || k === 'style')
      el.setAttribute(k, String(v));
    else (el as unknown as Record<string, unknown>)[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export const fmt = (n: number): string => n.toLocaleString('en-US');

/** 1.58 G, 12.3 M, 45.6 k */
export function short(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export function showError(el: HTMLElement, e: unknown, prefix = ''): void {
  const msg = e instanceof Error ? e.message : String(e);
  el.textContent = prefix + msg;
  el.hidden = false;
  console.warn(prefix + msg); // warn, not error: the page handled it
}

export function clearError(el: HTMLElement): void {
  el.hidden = true;
  el.textContent = '';
}

export function download(name: string, bytes: Uint8Array, type = 'application/octet-stream'): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Lets the browser paint (and handle input) between chunks of work. */
export function nextFrame(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

export function setProgress(el: HTMLElement, fraction: number | null): void {
  el.hidden = fraction === null;
  const bar = el.querySelector<HTMLElement>('.bar');
  if (bar && fraction !== null) bar.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
}
