// Small DOM helpers: elements built with createElement and textContent only (no innerHTML, so
// tracebacks and messages can hold anything), styles through CSSOM (allowed by the panel's CSP).

type Child = Node | string | undefined | null | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Record<string, string | boolean | undefined>,
  ...children: Child[]
): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Record<string, string | boolean | undefined>, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Record<string, string | boolean | undefined> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child !== undefined && child !== null && child !== false) el.append(child);
  return el;
}

/** A codicon, e.g. icon('sync', 'spin'). */
export function icon(name: string, ...classes: string[]): HTMLSpanElement {
  return h('span', { class: ['codicon', `codicon-${name}`, ...classes].join(' '), 'aria-hidden': 'true' });
}

/** Sets text only when it changed (keeps layout and selection stable). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function setHidden(el: HTMLElement, hidden: boolean): void {
  if (el.hidden !== hidden) el.hidden = hidden;
}

export function getById<T extends HTMLElement = HTMLElement>(root: ParentNode, id: string): T {
  const el = root.querySelector<T>(`#${id}`);
  if (!el) throw new Error(`#${id} is missing`);
  return el;
}
