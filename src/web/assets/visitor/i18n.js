// The visitor page's languages: which language the page speaks (its own words from
// strings.js; the project's texts come from the box), how a language is chosen from what the
// project offers and what the browser prefers, and putting words on the page so that they
// can be re-rendered in another language without a reload.
//
// An element shows a catalogue message by carrying its key: `data-i18n="key"` (text), with
// `data-i18n-args` (JSON parameters), or `data-i18n-aria-label` / `data-i18n-title` (those
// attributes). say() sets these; relabel() re-renders every one of them.
import { STRINGS } from '/web/visitor/strings.js';

/** The languages the page's own words exist in. */
export const PAGE_LANGUAGES = Object.keys(STRINGS);

let current = 'en';

/** The two-letter code of a locale: `es-MX`, `es_MX` and `ES` all give `es`. */
export const baseCode = (locale) => String(locale || '').split(/[-_]/)[0].trim().toLowerCase();

/** The browser's preferred languages, most wanted first, as two-letter codes. */
export function browserLanguages() {
  const list = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return [...new Set(list.map(baseCode).filter(Boolean))];
}

/** The first of `wanted` (codes, most wanted first) that `offered` has, else null. */
export function firstOffered(wanted, offered) {
  return wanted.map(baseCode).find((c) => offered.includes(c)) || null;
}

/**
 * The catalogue message `key` in the page's language (English if that language lacks it),
 * with `{name}` replaced by params.name; a parameter may itself be a message, `{key, args}`.
 */
export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => {
    const v = params[name];
    if (v === undefined || v === null) return m;
    return typeof v === 'object' && v.key ? t(v.key, v.args) : String(v);
  });
}

/**
 * Switches the page's own words to the first of `wanted` (codes, most wanted first) the page
 * has, else English, and re-renders them. Returns the language used.
 */
export function setPageLanguage(wanted) {
  current = firstOffered([...wanted.filter(Boolean), 'en'], PAGE_LANGUAGES);
  document.documentElement.lang = current;
  relabel();
  return current;
}

/** Shows message `key` (with params) as `el`'s text, remembered for relabel(). */
export function say(el, key, params) {
  el.dataset.i18n = key;
  if (params && Object.keys(params).length) el.dataset.i18nArgs = JSON.stringify(params);
  else delete el.dataset.i18nArgs;
  el.textContent = t(key, params);
}

/** Shows text that is not a catalogue message (the project's own words, a name) as `el`'s text. */
export function sayText(el, text) {
  delete el.dataset.i18n;
  delete el.dataset.i18nArgs;
  el.textContent = text;
}

/** Re-renders every catalogue message on the page in the page's language. */
export function relabel(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.dataset.i18n, el.dataset.i18nArgs ? JSON.parse(el.dataset.i18nArgs) : undefined);
  }
  for (const attr of ['aria-label', 'title']) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
  }
}

/** A language's name in that language ("español", "Deutsch"), capitalised; else `fallback`. */
export function nativeName(code, fallback) {
  try {
    const name = new Intl.DisplayNames([code], { type: 'language' }).of(code);
    if (name && name !== code) return name.charAt(0).toLocaleUpperCase(code) + name.slice(1);
  } catch {
    /* an old browser or an unknown code */
  }
  return fallback || code;
}

/** An error whose text is a catalogue message, so that it is re-rendered in another language. */
export class PageError extends Error {
  constructor(key, params) {
    super(t(key, params));
    this.key = key;
    this.params = params;
  }
}
