// common.js: helpers shared by the dashboard and the referral page: fetching
// the JSON API, number and amount formatting, DOM building, the SVG chart.
// Every number a page shows goes through fmtInt/fmtAmount from an API answer.
'use strict';
const RF = {};
RF.fmtInt = (v) => (v === null || v === undefined ? 'n/a' : Number(v).toLocaleString('en-US'));
// Amounts are integers in minor units; POINTS have none (as `refold demo`).
RF.decimals = (asset) => (/POINTS$/.test(asset) ? 0 : 2);
RF.fmtAmount = (asset, minor) => {
  const d = RF.decimals(asset);
  if (d === 0) return RF.fmtInt(minor);
  const neg = minor < 0, a = Math.abs(minor);
  const s = Math.trunc(a / 100).toLocaleString('en-US') + '.' + String(a % 100).padStart(2, '0');
  return (neg ? '-' : '') + s;
};
// A ratio the API gives in minor units ("941.18" cents) in major units, as
// the amounts ("9.41"); POINTS as they are.
RF.fmtRatioAmount = (asset, s) => (RF.decimals(asset) === 0 ? s : (Number(s) / 100).toFixed(2));
RF.el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
};
RF.clear = (e) => { while (e.firstChild) e.removeChild(e.firstChild); return e; };
// A table from a header row and data rows; cells are strings or {text, n}
// (n: right-aligned number), each row may carry data-* attributes via .attrs.
RF.table = (caption, heads, rows) => {
  const t = RF.el('table', {}, RF.el('caption', { class: 'sr-only', text: caption }));
  const hr = RF.el('tr');
  heads.forEach((h) => hr.append(RF.el('th', { scope: 'col', class: h.n ? 'n' : null, text: h.text || h })));
  t.append(RF.el('thead', {}, hr));
  const tb = RF.el('tbody');
  for (const r of rows) {
    const tr = RF.el('tr', r.attrs || {});
    for (const c of r.cells) {
      const o = typeof c === 'object' ? c : { text: String(c) };
      tr.append(RF.el('td', { class: o.n ? 'n' : null, 'data-v': o.v, text: o.text }));
    }
    tb.append(tr);
  }
  if (!rows.length) tb.append(RF.el('tr', {}, RF.el('td', { colspan: heads.length, class: 'muted', text: 'none' })));
  t.append(tb);
  return t;
};
RF.api = async (path, token) => {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && body.error ? (body.error.message || body.error) : 'HTTP ' + r.status;
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return body;
};
// A grouped bar chart in SVG: labels[i] on the x axis, series[k].values[i].
// Hand-written (about 40 lines) so the page needs no library and no request
// to anyone but refold; the same numbers are in the table next to it.
RF.barChart = (title, labels, series) => {
  const NS = 'http://www.w3.org/2000/svg', W = 640, H = 220, L = 40, B = 30, T = 10;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  const mk = (tag, a, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(a)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  const ph = H - B - T, gw = (W - L) / Math.max(1, labels.length), bw = Math.max(1, (gw * 0.8) / series.length);
  for (let g = 0; g <= 4; g++) {
    const y = T + ph - (ph * g) / 4;
    mk('line', { x1: L, x2: W, y1: y, y2: y, stroke: '#d5d9e0' });
    mk('text', { x: L - 4, y: y + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#4a5360' }, RF.fmtInt(Math.round((max * g) / 4)));
  }
  const every = Math.ceil(labels.length / 8);
  labels.forEach((lab, i) => {
    series.forEach((s, k) => {
      const v = s.values[i], h = (ph * v) / max;
      const r = mk('rect', { x: L + i * gw + gw * 0.1 + k * bw, y: T + ph - h, width: bw, height: h, class: 's' + k });
      const tt = document.createElementNS(NS, 'title');
      tt.textContent = `${lab}: ${s.name} ${v}`;
      r.append(tt);
    });
    if (i % every === 0)
      mk('text', { x: L + i * gw + gw / 2, y: H - 10, 'text-anchor': 'middle', 'font-size': 10, fill: '#4a5360' }, lab);
  });
  return svg;
};
window.RF = RF;
