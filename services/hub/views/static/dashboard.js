// The dashboard's script, served from /static: the Content-Security-Policy
// allows no inline script, and requires Trusted Types, so no string ever
// reaches an HTML sink. Shared data is inserted only as text (textContent,
// attributes, DOM nodes): never innerHTML, outerHTML or insertAdjacentHTML.
"use strict";
const $ = (id) => document.getElementById(id);
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const SVG = "http://www.w3.org/2000/svg";

function token() { return $("token").value.trim(); }
function params(extra) {
  const p = new URLSearchParams(extra || {});
  for (const id of ["lad", "week_from", "week_to", "category"]) {
    if ($(id).value) p.set(id, $(id).value);
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
async function get(view, extra) {
  const r = await fetched(`/api/v1/${view}?${params(extra)}`);
  if (!r.ok) throw new Error(`${view}: ${r.status} ${await reason(r)}`);
  return r.json();
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
function bars(target, rows, key, value) {
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

async function load() {
  $("error").textContent = "";
  try {
    const me = await get("whoami");
    $("who").textContent = `${me.recipient} (${me.recipient === "vrp" ? "regional" : "local"} view, areas to ${me.finest_area_level})`;
    $("rule").textContent = me.disclosure_control;
    $("fresh").textContent = me.freshness.lag_seconds === null ? "views not built yet" : `views ${Math.max(0, me.freshness.lag_seconds)} s behind`;
    const weekly = await get("views/incidents", { by: "week" });
    trend(weekly.rows);
    const byLad = await get("views/incidents", { by: "lad" });
    const lad = $("lad");
    if (lad.options.length === 1) for (const r of byLad.rows) lad.add(new Option(r.lad, r.lad));
    const cats = await get("views/incidents", { by: "category" });
    const cat = $("category");
    if (cat.options.length === 1) for (const r of cats.rows) if (r.category) cat.add(new Option(r.category, r.category));
    const hot = await get("views/hotspots");
    $("hotspot-share").textContent = `top 10% of ${hot.level.toUpperCase()}s (${hot.top_tenth_areas} of ${hot.areas}) hold ${hot.top_tenth_share === null ? "-" : Math.round(hot.top_tenth_share * 100) + "%"} of incidents`;
    bars($("hotspots"), hot.rows, "area", "count");
    heatmap((await get("views/incidents", { by: "dow,hour" })).rows);
    funnel((await get("views/referral-funnel")).rows);
    const ed = await get("views/ed-vs-police");
    $("edpolice").replaceChildren(
      node("div", { class: "big" }, ed.unreported_share === null ? "-" : Math.round(ed.unreported_share * 100) + "%"),
      node("div", { class: "note" }, `${ed.not_in_police_records} of ${ed.ed_attendances} ED assault attendances; ${ed.method}`));
    const young = await get("views/under-25"), night = await get("views/night-time");
    const pct = (x) => x === null ? "-" : Math.round(x * 100) + "%";
    $("shares").replaceChildren(
      node("div", {}, null, node("span", { class: "big" }, pct(young.share)), " victims under 25"),
      node("div", {}, null, node("span", { class: "big" }, pct(night.share)), " between 20:00 and 04:00"));
    document.body.dataset.loaded = "true";
  } catch (e) {
    $("error").textContent = e.message;
  }
}
async function csv(view, by) {
  const extra = { format: "csv" };
  if (by) extra.by = by;
  const r = await fetched(`/api/v1/views/${view}?${params(extra)}`);
  if (!r.ok) { $("error").textContent = `${view}: ${r.status} ${await reason(r)}`; return; }
  const blob = await r.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${view}.csv`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
$("load").addEventListener("click", () => { sessionStorage.setItem("svdhub-token", token()); load(); });
$("apply").addEventListener("click", load);
for (const b of document.querySelectorAll("button.csv")) b.addEventListener("click", () => csv(b.dataset.view, b.dataset.by));
if (sessionStorage.getItem("svdhub-token")) { $("token").value = sessionStorage.getItem("svdhub-token"); load(); }
