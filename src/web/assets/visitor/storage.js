// What the visitor page keeps on the phone: `saved` (localStorage, across visits: the device
// id, the token, the chosen language and project, the listener's last place) and `tabStream`
// (sessionStorage: the stream this tab listens to, across reloads of the tab, not shared by
// tabs). Without storage (some private modes) nothing is kept and the page still works.

export const saved = {
  get(k) {
    try {
      return localStorage.getItem(`rw.${k}`);
    } catch {
      return null;
    }
  },
  set(k, v) {
    try {
      if (v === null) localStorage.removeItem(`rw.${k}`);
      else localStorage.setItem(`rw.${k}`, v);
    } catch {
      /* private mode: keep in memory only */
    }
  },
};

/** The stream this tab is listening to, kept across reloads of the tab (not shared by tabs). */
export const tabStream = {
  get() {
    try {
      return sessionStorage.getItem('rw.stream');
    } catch {
      return null;
    }
  },
  set(v) {
    try {
      if (v === null) sessionStorage.removeItem('rw.stream');
      else sessionStorage.setItem('rw.stream', v);
    } catch {
      /* no storage: the stream times out instead */
    }
  },
};
