// The Overlay web UI: ask, see every span's source, teach, undo. No build step; one file.
"use strict";

const view = document.getElementById("view");

// ------------------------------------------------------------------ helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
  return data;
}

function status(el, text, isError) {
  el.textContent = text;
  el.className = "status" + (isError ? " error" : "");
}

function fmt(x) { return typeof x === "number" ? x.toFixed(3) : ""; }

// An event's time in the reader's own zone, to the second.
function when(ts) {
  const d = new Date(String(ts).replace(/(\.\d{3})\d+/, "$1"));
  return isNaN(d) ? ts : d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "medium"});
}

// A chat request streamed as server-sent events: `onText` gets each piece as it is written;
// resolves to the same shape as a non-streamed answer once the last chunk (with citations) came.
async function streamChat(body, onText) {
  const res = await fetch("/v1/chat/completions", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({...body, stream: true})});
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    throw new Error((data.error && data.error.message) || res.statusText);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", text = "", last = null;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut).replace(/^data: /, "");
      buffer = buffer.slice(cut + 2);
      if (event === "[DONE]") continue;
      const chunk = JSON.parse(event);
      if (chunk.error) throw new Error(chunk.error.message);
      const piece = chunk.choices && chunk.choices[0].delta.content;
      if (piece) { text += piece; onText(text); }
      if (chunk.overlay) last = chunk;
    }
  }
  if (!last) throw new Error("the answer stopped before it was complete");
  return {choices: [{message: {content: text}}], overlay: last.overlay, usage: last.usage};
}

function nodeLink(id, title) { return h("a", {href: `#/node/${id}`}, title || id.slice(0, 8)); }

function undoButton(eventId, after) {
  const btn = h("button", {class: "plain", "data-undo": eventId}, `Undo ${eventId}`);
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try { await api("/v1/undo", {event_id: Number(eventId)}); after(); }
    catch (e) { btn.disabled = false; alert(e.message); }
  });
  return btn;
}

function graph(container, data, focus) {
  if (!window.cytoscape || !data.nodes.length) {
    container.textContent = data.nodes.length ? "graph library not loaded" : "no links";
    return;
  }
  const cy = window.cytoscape({
    container,
    elements: [
      ...data.nodes.map(n => ({data: {id: n.id, label: n.title, kind: n.kind,
                                       focus: focus.includes(n.id) ? 1 : 0}})),
      ...data.edges.map((e, i) => ({data: {id: `e${i}`, source: e.src, target: e.dst, kind: e.kind}})),
    ],
    style: [
      {selector: "node", style: {label: "data(label)", "font-size": 10, "background-color": "#9fb8ad",
        "text-wrap": "ellipsis", "text-max-width": 120, width: 14, height: 14}},
      {selector: "node[focus = 1]", style: {"background-color": "#2f6f5e", width: 22, height: 22,
        "font-weight": "bold"}},
      {selector: "edge", style: {width: 1, "line-color": "#cfcabe", "curve-style": "bezier",
        "target-arrow-shape": "triangle", "target-arrow-color": "#cfcabe", "arrow-scale": .6}},
      {selector: "edge[kind = 'part_of']", style: {"line-style": "dashed"}},
    ],
    layout: {name: "cose", animate: false, randomize: false, nodeRepulsion: 8000},
  });
  cy.on("tap", "node", ev => { location.hash = `#/node/${ev.target.id()}`; });
}

// ------------------------------------------------------------------ memories
// a speaker and dates keep a search or an ask to some turns of the conversations
function memoryFilters() {
  const speaker = h("input", {id: "speaker", size: 10, placeholder: "speaker", title: "only what this speaker said"});
  const since = h("input", {id: "since", size: 10, placeholder: "since", title: "YYYY, YYYY-MM, YYYY-MM-DD or 'May 2023'"});
  const until = h("input", {id: "until", size: 10, placeholder: "until", title: "to the end of this date"});
  const values = () => Object.fromEntries([["speaker", speaker], ["since", since], ["until", until]]
    .filter(([, el]) => el.value.trim()).map(([k, el]) => [k, el.value.trim()]));
  return {inputs: [speaker, since, until], values};
}

function said(c) {  // a cited turn: who, when, which session
  return c.time ? ` · ${c.speaker || ""}, ${c.time.replace("T", " ")}, ${c.session || ""}` : "";
}

// --------------------------------------------------------------------- ask
function renderAnswer(answer, ov) {
  const box = h("div", {class: "answer" + (ov.known ? "" : " unknown"), id: "answer"});
  const titles = Object.fromEntries(ov.citations.map(c => [c.node, c.title]));
  const order = ov.citations.map(c => c.node);
  let at = 0;
  for (const s of [...ov.spans].sort((a, b) => a.start - b.start)) {
    if (s.start > at) box.append(answer.slice(at, s.start));
    const text = answer.slice(s.start, s.end);
    if (s.nodes.length) {
      const a = h("a", {class: "span cited", href: `#/node/${s.nodes[0]}`, "data-node": s.nodes[0],
                        title: s.nodes.map(n => titles[n] || n).join(", ")}, text);
      box.append(a, h("sup", {}, s.nodes.map(n => order.indexOf(n) + 1).join(",")));
    } else {
      box.append(h("span", {class: `span ${s.origin}`, title: `${s.origin}: no note behind it`}, text));
    }
    at = Math.max(at, s.end);
  }
  if (at < answer.length) box.append(answer.slice(at));
  return box;
}

function candidatesTable(trace) {
  const ranked = [...trace.candidates].sort((a, b) => b.score - a.score);
  const rows = ranked.map(c => h("tr", {class: c.chosen ? "chosen" : ""},
    h("td", {}, c.chosen ? "✔" : ""), h("td", {class: "num"}, fmt(c.score)),
    h("td", {}, c.node_id ? nodeLink(c.node_id, c.title) : c.title),
    ...["lm", "retrieval", "information"].map(k =>
      h("td", {class: "num"}, fmt((c.terms || {})[k]))),
    h("td", {class: "num", title: (c.via || []).length ? "via " + c.via.join(" → ") : null},
      fmt((c.terms || {}).activation), (c.via || []).length ? " ↝" : "")));
  return h("table", {id: "candidates"},
    h("thead", {}, h("tr", {}, ["", "score", "candidate", "lm", "retrieval", "information",
                               "activation"].map(x => h("th", {}, x)))),
    h("tbody", {}, rows));
}

async function showResult(container, res) {
  const ov = res.overlay;
  const trace = await api(`/v1/traces/${ov.trace_id}`);
  const note = h("span", {class: "status", id: "feedback-status"});
  const undoSlot = h("span", {});
  const correction = h("input", {id: "correction", placeholder: "the right answer", size: 40});
  const buttons = [];
  const send = async (verdict, correct) => {
    buttons.forEach(b => { b.disabled = true; });
    try {
      const done = await api("/v1/feedback", {trace_id: ov.trace_id, verdict, correct: correct || null});
      status(note, `${verdict}: counted toward “${done.goal}” on ${done.counted.length} notes (event ${done.event}).`);
      undoSlot.replaceChildren(undoButton(done.event, () => {
        status(note, `event ${done.event} undone.`);
        undoSlot.replaceChildren();
        buttons.forEach(b => { b.disabled = false; });
      }));
    } catch (e) { status(note, e.message, true); buttons.forEach(b => { b.disabled = false; }); }
  };
  buttons.push(h("button", {class: "good", id: "good", onclick: () => send("good")}, "Good"),
               h("button", {class: "bad", id: "bad", onclick: () => send("bad")}, "Bad"),
               h("button", {class: "plain", id: "correct", onclick: () => {
                 if (!correction.value.trim()) { correction.focus(); return; }
                 send("bad", correction.value.trim());
               }}, "Correct"));
  const cites = h("ol", {class: "links", id: "citations"},
    ov.citations.map(c => h("li", {}, nodeLink(c.node, c.title), " ",
                                 h("span", {class: "muted"}, `${c.source || ""}${c.line ? ":" + c.line : ""}${said(c)}`))));
  container.replaceChildren(
    renderAnswer(res.choices[0].message.content, ov),
    h("div", {class: "bar"}, ...buttons, correction, undoSlot),
    note,
    h("h2", {}, "Sources"), ov.citations.length ? cites : h("p", {class: "muted"}, "none"),
    h("h2", {}, "Candidates ", h("a", {href: `#/trace/${ov.trace_id}`, class: "muted"}, `trace ${ov.trace_id}`)),
    candidatesTable(trace),
  );
}

function askView() {
  const q = h("textarea", {id: "question", placeholder: "Ask the overlay…", required: true});
  const goal = h("input", {id: "goal", value: "answer", size: 12, title: "goal"});
  const mode = h("select", {id: "mode"}, h("option", {value: "statement"}, "cite notes"),
                 h("option", {value: "compose"}, "compose"));
  const strict = h("input", {type: "checkbox", id: "strict"});
  const filters = memoryFilters();
  const go = h("button", {type: "submit", id: "ask"}, "Ask");
  const out = h("div", {id: "result"});
  const state = h("span", {class: "status"});
  const form = h("form", {class: "ask"}, q,
    h("div", {class: "options"}, h("label", {}, "goal ", goal), mode,
      h("label", {}, strict, " strict"), ...filters.inputs, state), go);
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    go.disabled = true;
    out.replaceChildren();  // the last answer goes: the next one is not it
    status(state, "thinking…");
    try {
      const body = {model: "overlay", messages: [{role: "user", content: q.value}],
        overlay: {goal: goal.value || "answer", mode: mode.value, strict: strict.checked && mode.value === "compose",
                  ...filters.values()}};
      const res = mode.value === "compose"  // a composed answer grows as it is written
        ? await streamChat(body, text => {
            status(state, "writing…");
            out.replaceChildren(h("div", {class: "answer", id: "answer"}, text));
          })
        : await api("/v1/chat/completions", body);
      sessionStorage.setItem("last", JSON.stringify({q: q.value, res}));
      status(state, "");
      await showResult(out, res);
    } catch (e) { status(state, e.message, true); }
    go.disabled = false;
  });
  q.addEventListener("keydown", ev => { if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); } });
  view.replaceChildren(h("h1", {}, "Ask"), form, out);
  const last = JSON.parse(sessionStorage.getItem("last") || "null");
  if (last) { q.value = last.q; showResult(out, last.res).catch(() => {}); }
  q.focus();
}

// -------------------------------------------------------------------- node
async function nodeView(id) {
  const n = await api(`/v1/nodes/${encodeURIComponent(id)}`);
  const refresh = () => nodeView(id);
  const weights = n.weights.length
    ? h("table", {id: "weights"}, h("thead", {}, h("tr", {}, ["goal", "good (s)", "bad (f)",
          "goal reached, all episodes (p0)", "with this node (p1)", "information, bits"].map(x => h("th", {}, x)))),
        h("tbody", {}, n.weights.map(w => h("tr", {"data-goal": w.goal}, h("td", {}, w.goal),
          h("td", {class: "num"}, w.s), h("td", {class: "num"}, w.f),
          h("td", {class: "num", title: `${w.episodes_s} good, ${w.episodes_f} bad`}, fmt(w.p0)),
          h("td", {class: "num"}, fmt(w.p1)), h("td", {class: "num"}, fmt(w.bits))))))
    : h("p", {class: "muted", id: "weights"}, "no feedback yet");
  const history = n.history.length
    ? h("table", {id: "node-history"}, h("tbody", {}, n.history.map(e => h("tr", {},
        h("td", {class: "num"}, e.id), h("td", {}, e.kind), h("td", {}, e.what), h("td", {class: "muted"}, when(e.ts)),
        h("td", {}, e.undone ? h("span", {class: "muted"}, "undone") : (e.undoable ? undoButton(e.id, refresh) : ""))))))
    : h("p", {class: "muted"}, "no events");
  const links = (items, key) => items.length ? h("ul", {class: "links"}, items.map(l => h("li", {},
      l[key] ? nodeLink(l[key], l.title) : h("span", {class: "muted"}, l.target || "?"), " ",
      h("span", {class: "muted"}, l.kind)))) : h("p", {class: "muted"}, "none");
  const box = h("div", {class: "graph", id: "graph"});
  view.replaceChildren(
    h("h1", {id: "node-title"}, n.title, h("span", {class: "badge"}, n.kind)),
    h("p", {class: "muted"}, `${n.source || "learned"}${n.lines[0] ? ":" + n.lines[0] : ""} · ${n.id}`),
    h("div", {class: "text"}, n.text),
    h("h2", {}, "Weights per goal"), weights,
    h("div", {class: "cols"},
      h("div", {}, h("h2", {}, "Links out"), links(n.out, "to")),
      h("div", {}, h("h2", {}, "Links in"), links(n.in, "from"))),
    h("h2", {}, "Neighbourhood"), box,
    h("h2", {}, "History"), history,
  );
  graph(box, await api(`/v1/nodes/${n.id}/graph`), [n.id]);
}

// a method run: per step, what it cited, or which way it branched, and the passages weighed
function stepsList(trace) {
  return h("ol", {id: "steps"}, ...(trace.steps || []).map(s => h("li", {value: s.number},
    h("b", {}, s.text),
    s.branch ? h("div", {class: "muted"}, `→ step ${s.branch.goto} (${s.branch.chosen})`)
             : h("div", {}, s.output || ""),
    (s.considered || []).length ? h("ul", {class: "considered"}, ...s.considered.map(c =>
      h("li", {class: c.chosen ? "chosen" : "muted"}, c.chosen ? "✔ " : "",
        nodeLink(c.node, c.title), ` — ${c.why}`))) : "")));
}

// ------------------------------------------------------------------- trace
async function traceView(id) {
  const t = await api(`/v1/traces/${encodeURIComponent(id)}`);
  const box = h("div", {class: "graph", id: "graph"});
  view.replaceChildren(
    h("h1", {}, `Trace ${t.id}`),
    h("p", {}, h("b", {}, "Question: "), t.question, h("span", {class: "muted"}, ` · goal ${t.goal} · ${t.mode} · ${t.model}`)),
    h("div", {class: "answer"}, t.answer || "(no answer)"),
    ...((t.steps || []).length ? [h("h2", {}, "Steps"), stepsList(t)] : []),
    h("h2", {}, "What was weighed"), box,
    h("h2", {}, "Candidates"), candidatesTable(t));
  graph(box, await api(`/v1/traces/${t.id}/graph`), t.candidates.filter(c => c.chosen).map(c => c.node_id));
}

// ------------------------------------------------------------------ search
function searchView(query) {
  const input = h("input", {id: "search-q", value: query || "", size: 50, placeholder: "words or meaning"});
  const results = h("div", {id: "hits"});
  const filters = memoryFilters();
  const form = h("form", {class: "bar"}, input, ...filters.inputs, h("button", {type: "submit"}, "Search"));
  const run = async () => {
    if (!input.value.trim()) return;
    try {
      const extra = new URLSearchParams(filters.values()).toString();
      const hits = await api(`/v1/search?q=${encodeURIComponent(input.value)}&k=20${extra ? "&" + extra : ""}`);
      results.replaceChildren(...(hits.length ? hits.map(x => h("div", {class: "hit"},
        nodeLink(x.id, x.title), h("span", {class: "badge"}, x.kind),
        h("div", {class: "where muted"}, `${x.source || "learned"}${x.line ? ":" + x.line : ""} · score ${fmt(x.score)}${x.time ? ` · ${x.speaker || ""} ${x.time.replace("T", " ")}` : ""}`),
        h("div", {}, x.snippet))) : [h("p", {class: "muted"}, "nothing found")]));
    } catch (e) { results.replaceChildren(h("p", {class: "status error"}, e.message)); }
  };
  form.addEventListener("submit", ev => { ev.preventDefault(); history.replaceState(null, "", `#/search?q=${encodeURIComponent(input.value)}`); run(); });
  view.replaceChildren(h("h1", {}, "Search"), form, results);
  run();
}

// ---------------------------------------------------------------- insights
async function insightsView() {
  const list = await api("/v1/insights");
  const rows = list.map(i => {
    const slot = h("td", {});
    const decide = accept => async () => {
      try { const d = await api(`/v1/insights/${i.id}`, {accept}); slot.replaceChildren(`${accept ? "accepted" : "rejected"} (event ${d.event})`); }
      catch (e) { slot.textContent = e.message; }
    };
    slot.append(h("button", {class: "good", onclick: decide(true)}, "Accept"), " ",
                h("button", {class: "plain", onclick: decide(false)}, "Reject"));
    return h("tr", {}, h("td", {}, nodeLink(i.a, i.title_a)), h("td", {}, nodeLink(i.b, i.title_b)),
             h("td", {class: "num"}, i.asks), h("td", {class: "num"}, fmt(i.level)),
             h("td", {class: "num", title: i.verdicts ? `${i.verdicts} judged asks toward “${i.goal}”` : "no verdicts yet"},
               i.verdicts ? `${fmt(i.bits)} (${i.goal})` : "–"), slot);
  });
  view.replaceChildren(h("h1", {}, "Insights"),
    h("p", {class: "muted"}, "Notes that keep being activated together but are not linked, with the bits toward a goal their co-activation carried in judged asks. Accepting learns the link."),
    rows.length ? h("table", {}, h("thead", {}, h("tr", {}, ["note", "note", "asks", "level", "bits", ""].map(x => h("th", {}, x)))),
                    h("tbody", {}, rows))
                : h("p", {class: "muted"}, "No proposals yet: they appear after a few asks."));
}

// ----------------------------------------------------------------- history
async function historyView() {
  const events = await api("/v1/history?limit=100");
  view.replaceChildren(h("h1", {}, "History"), h("table", {id: "history"},
    h("thead", {}, h("tr", {}, ["event", "kind", "what", "when", ""].map(x => h("th", {}, x)))),
    h("tbody", {}, events.map(e => h("tr", {}, h("td", {class: "num"}, e.id), h("td", {}, e.kind),
      h("td", {}, e.what), h("td", {class: "muted"}, when(e.ts)),
      h("td", {}, e.undone ? h("span", {class: "muted"}, "undone") : (e.undoable ? undoButton(e.id, historyView) : "")))))));
}

// ------------------------------------------------------------------ router
async function route() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === (parts[0] || "ask"));
  try {
    if (parts[0] === "node" && parts[1]) await nodeView(decodeURIComponent(parts[1]));
    else if (parts[0] === "trace" && parts[1]) await traceView(decodeURIComponent(parts[1]));
    else if (parts[0] === "search") searchView(new URLSearchParams(query || "").get("q"));
    else if (parts[0] === "insights") await insightsView();
    else if (parts[0] === "history") await historyView();
    else askView();
  } catch (e) {
    view.replaceChildren(h("h1", {}, "Not available"), h("p", {class: "status error"}, e.message));
  }
  window.scrollTo(0, 0);
}

window.addEventListener("hashchange", route);
api("/v1/stats").then(s => {
  document.getElementById("stats").textContent = `${s.nodes} nodes · ${s.edges ?? "?"} edges · ${s.events ?? "?"} events`;
}).catch(() => {});
route();
