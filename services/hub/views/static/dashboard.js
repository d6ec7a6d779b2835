// The dashboard's script, served from /static: the Content-Security-Policy
// allows no inline script, and requires Trusted Types, so no string ever
// reaches an HTML sink. Shared data is inserted only as text (textContent,
// attributes, DOM nodes): never innerHTML, outerHTML or insertAdjacentHTML.
"use strict";
const $ = (id) => document.getElementById(id);
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const SVG = "http://www.w3.org/2000/svg";

function token() { return $("token").value.trim(); }
// The published tables (/api/v1/tables), by id: their dimensions and grain.
let TABLES = {};
// Each chart's last request (its path and parameters): its CSV button asks for
// the same figures as CSV.
const SHOWN = {};
// The Monday of the week a date (ISO) falls in.
function monday(value) {
  const d = new Date(`${value}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return d.toISOString().slice(0, 10);
}
// The filters a table can take: a district or category filter only where the
// table has that dimension, weeks only on a weekly table (a table moves by its
// own grain: the API refuses a range that splits its cells). What a chart could
// not apply is listed in `skipped`.
function params(table, extra, skipped, chart) {
  const p = new URLSearchParams(extra || {});
  const info = TABLES[table] || { dimensions: ["lad"], grain: "quarter" };
  for (const id of ["lad", "category"]) {
    if (!$(id).value) continue;
    if (info.dimensions.includes(id)) p.set(id, $(id).value);
    else skipped.add(`${chart}: not by ${id}`);
  }
  for (const id of ["week_from", "week_to"]) {
    if (!$(id).value) continue;
    if (info.grain === "week") p.set(id, monday($(id).value));
    else skipped.add(`${chart}: by ${info.grain}, not week`);
  }
  return p;
}
// Why a request failed: the API's detail (JSON), shown as text.
async function reason(r) {
  try {
    const d = (await r.json()).detail;
    return typeof d === "string" ? d : JSON.stringify(d || "");
  } catch (e) {
    return r.statusText;
  }
}
// A GET of the API with the token; over the rate limit (429), it waits as long
// as Retry-After says (at most 10 s) and tries again, up to 4 times.
async function fetched(url) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(url, { headers: { Authorization: `Bearer ${token()}` } });
    if (r.status !== 429 || attempt >= 4) return r;
    const wait = Math.min(10, Number(r.headers.get("Retry-After")) || 1);
    await new Promise((done) => setTimeout(done, wait * 1000));
  }
}
async function get(path, query, chart) {
  const p = query || new URLSearchParams();
  if (chart) SHOWN[chart] = { path, query: new URLSearchParams(p) };
  const r = await fetched(`/api/v1/${path}?${p}`);
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await reason(r)}`);
  return r.json();
}
// A table of the catalogue, with the filters it can take.
function table(id, skipped, chart) {
  return get("views/incidents", params(id, { table: id }, skipped, chart), chart);
}
function el(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}
// An HTML element with text (never parsed as HTML), and optional children.
function node(tag, attrs, text, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const c of children) e.append(c);
  return e;
}
function svg(width, height, target) {
  target.replaceChildren();
  return el("svg", { width, height, viewBox: `0 0 ${width} ${height}` }, target);
}
function label(parent, x, y, text, anchor) {
  const t = el("text", { x, y, "text-anchor": anchor || "start" }, parent);
  t.textContent = text;
}
function shown(n) { return n === null ? "suppressed" : n; }

function trend(rows) {
  const s = svg(420, 180, $("trend"));
  if (!rows.length) { label(s, 10, 20, "no incidents"); return; }
  const max = Math.max(10, ...rows.map((r) => r.count || 0));
  const step = 380 / Math.max(1, rows.length - 1);
  let path = "";
  rows.forEach((r, i) => {
    const x = 30 + i * step, y = 160 - ((r.count || 0) / max) * 140;
    path += `${i ? "L" : "M"}${x},${y}`;
    el("circle", { cx: x, cy: y, r: 3, fill: r.count === null ? "#bbb" : "#1f3b5b", "data-week": r.week }, s);
  });
  el("path", { d: path, fill: "none", stroke: "#1f3b5b", "stroke-width": 2 }, s);
  label(s, 2, 20, String(max));
  label(s, 30, 175, rows[0].week);
  label(s, 410, 175, rows[rows.length - 1].week, "end");
}
function bars(target, rows, key, value, empty) {
  if (!rows.length && empty) { target.replaceChildren(node("div", { class: "note" }, empty)); return; }
  const s = svg(420, 22 * rows.length + 10, target);
  const max = Math.max(10, ...rows.map((r) => r[value] || 0));
  rows.forEach((r, i) => {
    label(s, 0, 22 * i + 15, r[key]);
    const w = ((r[value] || 0) / max) * 250;
    el("rect", { x: 110, y: 22 * i + 4, width: Math.max(1, w), height: 14, fill: r[value] === null ? "#ccc" : "#c05640", "data-area": r[key] }, s);
    label(s, 115 + w, 22 * i + 15, String(shown(r[value])));
  });
}
function heatmap(rows) {
  const s = svg(430, 170, $("heatmap"));
  const max = Math.max(10, ...rows.map((r) => r.count || 0));
  DAYS.forEach((d, i) => label(s, 0, 22 * i + 28, d));
  for (let h = 0; h < 24; h += 3) label(s, 32 + h * 16, 10, String(h));
  for (const r of rows) {
    if (r.dow === null || r.hour === null) continue;
    const shade = r.count === null ? "#ddd" : `rgba(192,86,64,${0.15 + 0.85 * (r.count / max)})`;
    el("rect", { x: 30 + r.hour * 16, y: 22 * r.dow + 16, width: 15, height: 20, fill: shade, class: "cell" }, s);
  }
}
function funnel(rows) {
  const target = $("funnel");
  target.replaceChildren();
  if (!rows.length) { target.textContent = "no referrals shared with this recipient"; return; }
  for (const r of rows) {
    const box = node("div", { class: "programme" }, null, node("b", {}, r.programme));
    target.appendChild(box);
    bars(box.appendChild(document.createElement("div")),
      [{ stage: "referred", n: r.referred }, { stage: "engaged", n: r.engaged }, { stage: "completed", n: r.completed }], "stage", "n");
  }
}

// Loads in flight: only the newest one marks the page loaded.
let loads = 0;
async function load() {
  const mine = ++loads;
  $("error").textContent = "";
  const skipped = new Set();
  try {
    const me = await get("whoami");
    $("who").textContent = `${me.recipient} (${me.recipient === "vrp" ? "regional" : "local"} view, areas to ${me.finest_area_level})`;
    $("rule").textContent = me.disclosure_control;
    $("fresh").textContent = me.freshness.lag_seconds === null ? "views not built yet" : `views ${Math.max(0, me.freshness.lag_seconds)} s behind`;
    TABLES = {};
    for (const t of (await get("tables")).tables) TABLES[t.id] = t;
    const lad = $("lad"), cat = $("category");
    if (lad.options.length === 1) for (const r of (await get("views/incidents", new URLSearchParams({ table: "lad" }))).rows) lad.add(new Option(r.lad, r.lad));
    if (cat.options.length === 1) for (const r of (await get("views/incidents", new URLSearchParams({ table: "category" }))).rows) if (r.category) cat.add(new Option(r.category, r.category));
    trend((await table(lad.value ? "lad-week" : "weekly-trend", skipped, "trend")).rows);
    const hot = await get("views/hotspots", new URLSearchParams(), "hotspots");
    if ($("lad").value || $("category").value || $("week_from").value || $("week_to").value) skipped.add("hotspots: all areas, all periods");
    $("hotspot-share").textContent = `top 10% of ${hot.level.toUpperCase()}s with a published count (${hot.top_tenth_areas} of ${hot.areas_with_a_published_count}) hold ${hot.top_tenth_share === null ? "-" : Math.round(hot.top_tenth_share * 100) + "%"} of published incidents`;
    bars($("hotspots"), hot.rows, "area", "count", "no area has a published count (every cell is suppressed)");
    heatmap((await table("dow-hour", skipped, "heatmap")).rows);
    funnel((await get("views/referral-funnel", new URLSearchParams(), "funnel")).rows);
    const ed = await get("views/ed-vs-police", params("ed-vs-police", {}, skipped, "ED vs police"), "edpolice");
    if (!ed.available) {
      $("edpolice").replaceChildren(node("div", { class: "big" }, "not available"), node("div", { class: "note" }, ed.reason));
    } else {
      $("edpolice").replaceChildren(
        node("div", { class: "big" }, ed.unreported_share === null ? "-" : Math.round(ed.unreported_share * 100) + "%"),
        node("div", { class: "note" }, `${ed.not_in_police_records} of ${ed.ed_attendances} ED assault attendances; ${ed.method}`));
    }
    const shareParams = (chart) => params("lad-month-under25", {}, skipped, chart);
    const young = await get("views/under-25", shareParams("under 25"), "shares");
    const night = await get("views/night-time", shareParams("night-time"));
    const pct = (x) => x === null ? "-" : Math.round(x * 100) + "%";
    $("shares").replaceChildren(
      node("div", {}, null, node("span", { class: "big" }, pct(young.share)), " victims under 25"),
      node("div", {}, null, node("span", { class: "big" }, pct(night.share)), " between 20:00 and 04:00"));
    if (mine !== loads) return;
    $("skipped").textContent = skipped.size ? `Filters not applied (each table moves on its own grid): ${[...skipped].join("; ")}` : "";
    document.body.dataset.loaded = "true";
  } catch (e) {
    $("error").textContent = e.message;
  }
}
// The figures a chart shows, as CSV.
async function csv(chart) {
  const shown = SHOWN[chart];
  if (!shown) return;
  const query = new URLSearchParams(shown.query);
  query.set("format", "csv");
  const r = await fetched(`/api/v1/${shown.path}?${query}`);
  if (!r.ok) { $("error").textContent = `${shown.path}: ${r.status} ${await reason(r)}`; return; }
  const blob = await r.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${chart}.csv`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
$("load").addEventListener("click", () => { sessionStorage.setItem("svdhub-token", token()); load(); });
$("apply").addEventListener("click", load);
for (const b of document.querySelectorAll("button.csv")) b.addEventListener("click", () => csv(b.dataset.chart));
if (sessionStorage.getItem("svdhub-token")) { $("token").value = sessionStorage.getItem("svdhub-token"); load(); }
