"""The facilitator's page: one self-contained HTML document that polls ``/_workshop/api/room``.

No external assets (venue Wi-Fi), no framework: the page reads its token from ``?token=`` and
sends it as a Bearer header on every call, redraws once a second, and offers the room faults.
"""

from __future__ import annotations

import html

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__: facilitator</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1rem 1.5rem; color: #222; }
h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
.sub { color: #666; margin-bottom: 1rem; }
.grid { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 1.2rem; }
table { border-collapse: collapse; width: 100%; font-size: .86rem; }
th, td { text-align: left; padding: .3rem .4rem; border-bottom: 1px solid #e3e3e3; vertical-align: top; }
th { background: #fafafa; position: sticky; top: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.code { display: inline-block; padding: 0 .3rem; margin: 0 .15rem .15rem 0; border-radius: 3px; background: #eee;
        font-family: ui-monospace, monospace; font-size: .78rem; }
.code.paid { background: #e3f3e4; color: #2e7d32; }
.err { color: #c62828; font-size: .8rem; }
.mit { color: #666; font-size: .78rem; }
.pill { font-size: .75rem; padding: .05rem .4rem; border-radius: 8px; background: #e8eef8; }
.pill.relay { background: #fff1e0; }
.panel { border: 1px solid #ddd; border-radius: 6px; padding: .7rem .9rem; margin-bottom: 1rem; }
.panel h2 { font-size: 1rem; margin: 0 0 .5rem; }
.bar { display: flex; align-items: center; gap: .4rem; margin: .2rem 0; font-size: .8rem; }
.bar .label { flex: 0 0 13rem; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.bar .fill { height: .9rem; background: #5c8dd6; border-radius: 2px; }
.bar .fill.paid { background: #2e7d32; }
.fault { background: #fff4e5; border-left: 4px solid #ef6c00; padding: .4rem .6rem; margin: .3rem 0;
         font-size: .85rem; }
button { font: inherit; padding: .25rem .6rem; margin: .15rem .2rem .15rem 0; cursor: pointer; }
select, input { font: inherit; }
#fault-kind { max-width: 100%; }
#status { font-size: .78rem; color: #666; }
</style></head>
<body>
<h1>__TITLE__</h1>
<div class="sub"><span id="totals">loading...</span> <span id="status"></span></div>
<div class="grid">
 <div>
  <table id="people"><thead><tr>
   <th>participant</th><th>delivery</th><th class="num">pushes</th><th class="num">accepted</th>
   <th>outcomes (ResultCode: count)</th><th>last error and what to do</th><th>exercise</th>
  </tr></thead><tbody></tbody></table>
 </div>
 <div>
  <div class="panel"><h2>Room faults</h2>
   <div id="faults"></div>
   <div>
    <select id="fault-kind"></select>
    for <input id="fault-seconds" type="number" min="5" value="60" style="width:4.5rem"> s
    <button id="fault-start">Turn on</button>
    <button id="fault-stop">Turn all off</button>
   </div>
   <div id="fault-what" class="mit"></div>
  </div>
  <div class="panel"><h2>Result codes in the room</h2><div id="chart"><i>no callbacks yet</i></div></div>
  <div class="panel"><h2>Daraja errors answered (OAuth, push, query)</h2><div id="errors"><i>none yet</i></div></div>
 </div>
</div>
<script>
const token = new URLSearchParams(location.search).get("token") || "";
const api = (path, opts = {}) => fetch("/_workshop/api/" + path, {...opts,
  headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"}});
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
let kindsFilled = false;

function bars(el, rows, paidCode) {
  if (!rows.length) return;
  const max = Math.max(...rows.map(r => r.count));
  el.innerHTML = rows.map(r => `<div class="bar" title="${esc(r.name)}"><span class="label">${esc(r.code)} ${esc(r.name)}</span>
    <span class="fill ${r.code === paidCode ? "paid" : ""}" style="width:${Math.max(2, 140 * r.count / max)}px"></span>
    <span class="num">${r.count}</span></div>`).join("");
}

function draw(room) {
  const t = room.totals;
  document.getElementById("totals").textContent =
    `${t.participants} participants, ${t.pushes} pushes, ${t.callbacks} callbacks ` +
    `(outcomes and errors: the last ${Math.round(room.window_seconds / 60)} min)`;
  const rows = room.participants.map(p => {
    const outcomes = Object.entries(p.results).sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `<span class="code ${c === "0" ? "paid" : ""}">${esc(c)}: ${n}</span>`).join("") || "-";
    const e = p.last_error;
    const err = e ? `<div class="err">${esc(e.code)} ${esc(e.message)} <span class="mit">(${esc(e.where)})</span></div>
      <div class="mit">${esc(e.mitigation)}</div>` : "-";
    const way = p.delivery + (p.waiting ? ` (${p.waiting} waiting)` : "");
    return `<tr data-participant="${esc(p.id)}"><td><b>${esc(p.name)}</b><br><span class="mit">${esc(p.id)} &middot; ${esc(p.shortcode)}</span></td>
      <td><span class="pill ${p.delivery}">${esc(way)}</span></td>
      <td class="num pushes">${p.pushes}</td><td class="num">${p.accepted}</td>
      <td>${outcomes}</td><td>${err}</td><td>${esc(p.exercise || "-")}</td></tr>`;
  });
  document.querySelector("#people tbody").innerHTML = rows.join("");
  bars(document.getElementById("chart"), room.results, "0");
  bars(document.getElementById("errors"), room.errors, null);
  document.getElementById("faults").innerHTML = room.faults.map(f =>
    `<div class="fault"><b>${esc(f.kind)}</b>: ${esc(f.what)}
     ${f.seconds_left === null ? "" : `(${Math.ceil(f.seconds_left)} s left)`}
     <button data-stop="${esc(f.kind)}">off</button></div>`).join("") || "<i>none: the room runs clean</i>";
  document.querySelectorAll("[data-stop]").forEach(b =>
    b.onclick = () => api("faults?kind=" + encodeURIComponent(b.dataset.stop), {method: "DELETE"}).then(refresh));
  if (!kindsFilled) {
    document.getElementById("fault-kind").innerHTML = Object.entries(room.available_faults)
      .map(([k, what]) => `<option value="${esc(k)}" title="${esc(what)}">${esc(k)}</option>`).join("");
    const kind = document.getElementById("fault-kind");
    const explain = () => document.getElementById("fault-what").textContent = room.available_faults[kind.value] || "";
    kind.onchange = explain; explain();
    kindsFilled = true;
  }
}

async function refresh() {
  try {
    const r = await api("room");
    if (!r.ok) { document.getElementById("status").textContent = "refused: " + (await r.text()); return; }
    draw(await r.json());
    document.getElementById("status").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) { document.getElementById("status").textContent = "server unreachable, retrying..."; }
}

document.getElementById("fault-start").onclick = () => api("faults", {method: "POST", body: JSON.stringify({
  kind: document.getElementById("fault-kind").value,
  seconds: Number(document.getElementById("fault-seconds").value) || 60})}).then(refresh);
document.getElementById("fault-stop").onclick = () => api("faults", {method: "DELETE"}).then(refresh);
refresh();
setInterval(refresh, 1000);
</script>
</body></html>
"""


def facilitator_page(title: str) -> str:
    """The page's HTML (the token is read by the page itself from its own URL)."""
    return _PAGE.replace("__TITLE__", html.escape(title))
