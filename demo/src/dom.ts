/**
 * @module dom
 * Finds the page's fixed elements (they are all in index.html) with their types checked,
 * so a renamed id fails loudly at start instead of as a null deep inside a handler.
 */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`index.html has no <${type.name}> with id "${id}"`);
  return element;
}

/** Creates an element holding `text` as text (never parsed as HTML). */
export function textElement<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text: string,
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = text;
  return element;
}
