// The relay's page: it reads snapshots from /events (server-sent events)
// and redraws three tables. No library, no build step.
"use strict";

function human(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + " " + units[i];
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function cell(tr, cls, text) {
  const td = el("td", cls, text);
  tr.appendChild(td);
  return td;
}

function fill(id, rows, build) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows.map(build));
  document.getElementById(id + "-count").textContent = rows.length ? "(" + rows.length + ")" : "";
  document.getElementById(id + "-empty").style.display = rows.length ? "none" : "block";
  document.getElementById(id).style.display = rows.length ? "table" : "none";
}

let peak = 1;

function pipeRow(p) {
  const tr = el("tr");
  tr.dataset.pipe = p.name;
  cell(tr, "name", p.name);
  const ends = cell(tr, "ends");
  if (!p.ends.some(e => e.role === "dial")) ends.appendChild(el("span", "end waiting", "waiting for the other end"));
  for (const e of p.ends) {
    const s = el("span", "end");
    s.dataset.role = e.role;
    s.appendChild(el("span", "role", e.role));
    s.appendChild(document.createTextNode(" " + e.addr + (e.name ? " (" + e.name + ")" : "") +
      (e.conns > 1 ? " ×" + e.conns : "")));
    ends.appendChild(s);
  }
  const b = cell(tr, "num bytes", (p.approx ? "≈ " : "") + human(p.bytes));
  b.dataset.bytes = String(p.bytes);
  const r = cell(tr, "num rate", human(p.rate) + "/s");
  peak = Math.max(peak, p.rate);
  const bar = el("span", "bar");
  bar.style.width = Math.round(100 * p.rate / peak) + "%";
  r.appendChild(bar);
  cell(tr, "num resumes", String(p.resumes));
  return tr;
}

function streamRow(s) {
  const tr = el("tr");
  tr.dataset.stream = s.name;
  cell(tr, "name", s.name);
  cell(tr, "num records", String(s.records));
  cell(tr, "num", human(s.bytes));
  cell(tr, "num", human(s.rate) + "/s");
  cell(tr, "num", String(s.publishers));
  const subs = cell(tr, "subscribers");
  if (!s.subscribers.length) subs.textContent = "none";
  for (const c of s.subscribers) {
    const label = (c.durable ? c.name : "ephemeral") + ": lag " + c.lag + (c.ack_pending ? ", " + c.ack_pending + " unacked" : "");
    const span = el("span", "sub" + (c.active ? "" : " idle"), label);
    span.dataset.lag = String(c.lag);
    subs.appendChild(span);
  }
  return tr;
}

function queueRow(q) {
  const tr = el("tr");
  tr.dataset.queue = q.name;
  cell(tr, "name", q.name);
  cell(tr, "num depth", String(q.depth));
  cell(tr, "num", String(q.workers));
  cell(tr, "num inflight", String(q.in_flight));
  cell(tr, "num", String(q.redeliveries));
  cell(tr, "num", String(q.results));
  return tr;
}

function show(s) {
  document.getElementById("server").textContent = s.server || "";
  document.getElementById("clients").textContent = s.clients + " NATS client" + (s.clients === 1 ? "" : "s");
  document.getElementById("updated").textContent = new Date(s.time).toLocaleTimeString();
  fill("pipes", s.pipes || [], pipeRow);
  fill("streams", s.streams || [], streamRow);
  fill("queues", s.queues || [], queueRow);
}

function connect() {
  const status = document.getElementById("status");
  const es = new EventSource("events");
  es.onopen = () => { status.textContent = "live"; status.className = "status live"; };
  es.onmessage = ev => { try { show(JSON.parse(ev.data)); } catch (e) { /* a partial event: the next one comes */ } };
  es.onerror = () => { status.textContent = "reconnecting…"; status.className = "status down"; };
}

connect();
