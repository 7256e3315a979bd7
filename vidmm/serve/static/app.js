// vidmm's web app: search, watch and question an indexed video library. Plain JS, no build step.
// Views follow the URL's hash: #/search?q=…, #/video/<id>?t=…&end=…&q=…, #/library?offset=…
// Everything from the server is written with textContent, never as HTML.

const $ = (selector) => document.querySelector(selector);
const views = { search: $("#search-view"), video: $("#video-view"), library: $("#library-view") };
const PAGE = 50;

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json" }, ...options };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.hash);
    throw new ApiError("log in first", 401);
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError((body && body.message) || response.statusText, response.status);
  return body;
}

function clock(seconds) {  // m:ss.s, as the CLI prints times
  const m = Math.floor(seconds / 60);
  const s = seconds - 60 * m;
  return `${m}:${s.toFixed(1).padStart(4, "0")}`;
}

function span(a, b) { return `${clock(a)}–${clock(b)}`; }

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function show(name) {
  for (const [key, view] of Object.entries(views)) view.hidden = key !== name;
}

function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const params = new URLSearchParams(query || "");
  const [view, id] = path.split("/");
  if (view === "video" && id) showVideo(decodeURIComponent(id), params);
  else if (view === "library") showLibrary(params);
  else showSearch(params);
}

// -- search ---------------------------------------------------------------------------------

let searchTurn = 0;

function searchParams() {
  const params = new URLSearchParams({ q: $("#q").value.trim(), k: $("#f-k").value });
  for (const [key, input] of [["path", "#f-path"], ["from_s", "#f-from"], ["to_s", "#f-to"]]) {
    if ($(input).value.trim()) params.set(key, $(input).value.trim());
  }
  return params;
}

async function showSearch(params) {
  show("search");
  const q = params.get("q");
  if (!q) return;
  $("#q").value = q;
  if (params.get("k")) $("#f-k").value = params.get("k");
  $("#f-path").value = params.get("path") || "";
  $("#f-from").value = params.get("from_s") || "";
  $("#f-to").value = params.get("to_s") || "";
  const turn = ++searchTurn;
  const status = $("#search-status");
  status.textContent = "Searching…";
  status.classList.remove("error");
  try {
    const found = await api("/api/search?" + params.toString());
    if (turn !== searchTurn) return;
    $("#results").replaceChildren(...found.hits.map((hit) => card(hit, q)));
    status.replaceChildren(!found.covered
      ? `Can't tell: “${q}” names none of the things the index's model knows (lite: ImageNet's 1,000 objects and animals). `
      : found.hits.length
        ? `${found.hits.length} moment${found.hits.length === 1 ? "" : "s"} for “${q}”, best first`
        : `No match: nothing shows “${q}” with probability ${found.min_probability.toFixed(2)} or more. `);
    if (!found.hits.length && !params.get("all")) {
      const all = new URLSearchParams(params);
      all.set("all", "1");
      status.append(el("a", { href: "#/search?" + all.toString(), textContent: "Show the best moments anyway" }));
    }
  } catch (err) {
    if (turn !== searchTurn) return;
    $("#results").replaceChildren();
    status.textContent = err.message;
    status.classList.add("error");
  }
}

function card(hit, q) {
  const target = new URLSearchParams({ t: hit.start_s, end: hit.end_s, q });
  const score = `probability ${hit.probability.toFixed(2)}`;
  return el("a", {
    className: "card", href: `#/video/${encodeURIComponent(hit.video_id)}?${target}`,
    dataset: { videoId: hit.video_id, start: hit.start_s, end: hit.end_s, name: hit.name },
  },
  el("img", { src: hit.thumbnail_url, alt: `${hit.name} at ${clock((hit.start_s + hit.end_s) / 2)}`, loading: "lazy", width: 320, height: 180 }),
  el("div", { className: "meta" },
    el("span", { className: "name", title: hit.path, textContent: hit.name }),
    el("span", { className: "when", textContent: hit.image ? "image" : span(hit.start_s, hit.end_s) }),
    el("span", { className: "score", textContent: score }),
    hit.gone ? el("span", { className: "gone", textContent: "file gone since indexed" }) : null));
}

$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const hash = "#/search?" + searchParams().toString();
  if (location.hash === hash) route(); else location.hash = hash;
});

// -- one video --------------------------------------------------------------------------------

const player = $("#player");
let current = null;  // {id, info, start, end, windows}
let videoTurn = 0;

async function showVideo(id, params) {
  show("video");
  const turn = ++videoTurn;
  const start = Number(params.get("t") || 0);
  const end = params.has("end") ? Number(params.get("end")) : null;
  const q = params.get("q") || "";
  const sameVideo = current && current.id === id;
  current = { id, info: sameVideo ? current.info : null, start, end, windows: [] };
  $("#v-error").hidden = true;
  if (!sameVideo) {
    player.removeAttribute("src");  // the last video must not show (or answer for this one) while this one loads
    player.removeAttribute("poster");
    player.load();
    for (const list of ["#captions", "#tags", "#label-results"]) $(list).replaceChildren();
    $("#caption-text").textContent = "…";
    $("#answer").textContent = "";
  }
  try {
    current.info = current.info || await api(`/api/videos/${encodeURIComponent(id)}`);
  } catch (err) {
    return videoError(err.message);
  }
  if (turn !== videoTurn) return;
  const info = current.info;
  $("#v-title").textContent = info.name;
  $("#v-path").textContent = `${info.path} · ${info.duration_s ? clock(info.duration_s) : "?"}`;
  document.title = `${info.name} · vidmm`;
  if (!info.media_url) return videoError(`Not indexed: ${info.error}`);
  if (info.image) player.poster = info.media_url;  // a still: shown as the player's poster, nothing to play
  else if (!sameVideo) player.src = info.media_url;  // first: a new source resets readyState, so the seek waits for it
  seekWhenReady(start);
  $("#strip-q").value = q;
  drawMoment();
  drawStrip(q ? await scores(id, q) : []);
  if (!sameVideo) loadPanels(id, turn);
}

function videoError(message) {
  $("#v-error").textContent = message;
  $("#v-error").hidden = false;
}

function seekWhenReady(t) {
  if (player.readyState >= 1) { player.currentTime = t; return; }
  player.addEventListener("loadedmetadata", () => { player.currentTime = t; }, { once: true });
}

function duration() {
  return (Number.isFinite(player.duration) && player.duration > 0 ? player.duration : null)
    || (current && current.info && current.info.duration_s) || 1;
}

async function scores(id, q) {
  try {
    const found = await api(`/api/videos/${encodeURIComponent(id)}/scores?` + new URLSearchParams({ q }));
    $("#strip-legend").textContent = `Score of “${q}” along the video (taller: better match); the framed stretch is the moment found.`;
    return found.windows;
  } catch (err) {
    $("#strip-legend").textContent = err.message;
    return [];
  }
}

function drawMoment() {
  const mark = $("#moment");
  if (!current || current.end === null) { mark.hidden = true; return; }
  const total = duration();
  mark.style.left = `${(100 * current.start) / total}%`;
  mark.style.width = `${(100 * Math.max(current.end - current.start, 0)) / total}%`;
  mark.hidden = false;
}

function drawStrip(windows) {  // a bar per pixel column: the mean probability of the windows covering it
  if (current) current.windows = windows;
  const canvas = $("#strip");
  const width = canvas.clientWidth || 600, height = canvas.clientHeight || 36;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, width, height);
  if (!windows.length) return;
  const total = duration();
  context.fillStyle = "#2458c6";
  for (let x = 0; x < width; x++) {
    const t = ((x + 0.5) / width) * total;
    const covering = windows.filter((w) => w.start_s <= t && t < w.end_s);
    if (!covering.length) continue;
    const mean = covering.reduce((sum, w) => sum + w.probability, 0) / covering.length;
    const bar = Math.round((0.06 + 0.94 * mean) * height);  // probabilities: comparable across videos
    context.fillRect(x, height - bar, 1, bar);
  }
}

function seek(t) {
  player.currentTime = t;
  player.focus();
}

function timedItem(start, end, ...rest) {
  return el("li", {}, el("button", { className: "t", type: "button", textContent: span(start, end), onclick: () => seek(start) }), ...rest);
}

function loadPanels(id, turn) {
  const path = `/api/videos/${encodeURIComponent(id)}`;
  api(`${path}/caption`).then((caption) => {
    if (turn !== videoTurn) return;
    $("#caption-text").textContent = caption.text;
    $("#captions").replaceChildren(...caption.segments.map((s) => timedItem(s.start_s, s.end_s, el("span", { textContent: s.text }))));
  }).catch((err) => { $("#caption-text").textContent = err.message; });
  api(`${path}/tags`).then((tags) => {
    if (turn !== videoTurn) return;
    $("#tags").replaceChildren(...tags.tags.map((t) => el("li", {}, el("button", {
      type: "button", textContent: `${t.name} ${(100 * t.score).toFixed(0)}%`,
      title: t.spans.map(([a, b]) => span(a, b)).join(", "),
      onclick: () => t.spans.length && seek(t.spans[0][0]),
    }))));
  }).catch((err) => { $("#tags").replaceChildren(el("li", { className: "error", textContent: err.message })); });
}

$("#timeline").addEventListener("click", (event) => {
  const box = event.currentTarget.getBoundingClientRect();
  seek(((event.clientX - box.left) / box.width) * duration());
});
player.addEventListener("timeupdate", () => { $("#playhead").style.left = `${(100 * player.currentTime) / duration()}%`; });
player.addEventListener("loadedmetadata", () => { drawMoment(); if (current) drawStrip(current.windows); });
player.addEventListener("error", () => videoError("This browser cannot play this file (its codec or container); the captions, tags and answers still work."));
window.addEventListener("resize", () => { if (current) drawStrip(current.windows); });

$("#strip-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const params = new URLSearchParams({ t: current.start, q: $("#strip-q").value.trim() });
  if (current.end !== null) params.set("end", current.end);
  location.hash = `#/video/${encodeURIComponent(current.id)}?${params}`;
});

$("#ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = $("#answer");
  answer.textContent = "Thinking…";
  try {
    const found = await api(`/api/videos/${encodeURIComponent(current.id)}/ask`, { json: { question: $("#ask-q").value.trim() } });
    answer.replaceChildren(el("strong", { textContent: found.text }), ` (${found.score_is}: ${found.score.toFixed(2)}) `,
      ...found.spans.map(([a, b]) => el("button", { className: "t", type: "button", textContent: span(a, b), onclick: () => seek(a) })));
  } catch (err) {
    answer.textContent = err.message;
  }
});

$("#classify-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const labels = $("#labels").value.split(",").map((l) => l.trim()).filter(Boolean);
  const list = $("#label-results");
  list.replaceChildren(el("li", { className: "muted", textContent: "Ranking…" }));
  try {
    const found = await api(`/api/videos/${encodeURIComponent(current.id)}/classify`, { json: { labels } });
    list.replaceChildren(...found.labels.map((l) => l.spans.length
      ? timedItem(l.spans[0][0], l.spans[0][1], el("span", { textContent: `${(100 * l.score).toFixed(1)}% ${l.name}` }))
      : el("li", { textContent: `${(100 * l.score).toFixed(1)}% ${l.name}` })));
  } catch (err) {
    list.replaceChildren(el("li", { className: "error", textContent: err.message }));
  }
});

// -- the library ------------------------------------------------------------------------------

let libraryQuery = new URLSearchParams();

async function showLibrary(params) {
  show("library");
  libraryQuery = params;
  $("#lib-name").value = params.get("name") || "";
  $("#lib-status").value = params.get("status") || "";
  const offset = Math.max(0, Number(params.get("offset") || 0));
  const query = new URLSearchParams({ offset, limit: PAGE });
  for (const key of ["name", "status"]) if (params.get(key)) query.set(key, params.get(key));
  refreshStatus();
  try {
    const page = await api("/api/videos?" + query);
    $("#lib-table tbody").replaceChildren(...page.items.map(videoRow));
    const last = Math.min(page.offset + page.items.length, page.total);
    $("#page-info").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total.toLocaleString()}` : "no videos";
    $("#prev").disabled = page.offset === 0;
    $("#next").disabled = last >= page.total;
    $("#prev").onclick = () => goLibrary({ offset: Math.max(0, page.offset - PAGE) });
    $("#next").onclick = () => goLibrary({ offset: page.offset + PAGE });
  } catch (err) {
    $("#lib-table tbody").replaceChildren(el("tr", {}, el("td", { colSpan: 6, className: "error", textContent: err.message })));
  }
}

function goLibrary(changes) {
  const params = new URLSearchParams(libraryQuery);
  for (const [key, value] of Object.entries(changes)) {
    if (value === "" || value === null) params.delete(key); else params.set(key, value);
  }
  location.hash = "#/library?" + params;
}

function videoRow(video) {
  const name = video.status === "done"
    ? el("a", { href: `#/video/${encodeURIComponent(video.video_id)}`, textContent: video.name, title: video.path })
    : el("span", { textContent: video.name, title: video.path });
  const state = video.file === "ok" ? video.status : `${video.status}, file ${video.file}`;
  return el("tr", {},
    el("td", {}, name),
    el("td", { textContent: state }),
    el("td", { className: "num", textContent: video.duration_s ? clock(video.duration_s) : "" }),
    el("td", { className: "num", textContent: video.n_windows }),
    el("td", { textContent: video.indexed_at ? new Date(video.indexed_at).toLocaleString() : "" }),
    el("td", { className: "why", textContent: video.error || "" }));
}

$("#lib-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  goLibrary({ name: $("#lib-name").value.trim(), status: $("#lib-status").value, offset: 0 });
});

// -- the index's status and the background add ------------------------------------------------

let polling = null;

function addText(add) {
  if (add.state === "running") {
    const of = add.files_total ? ` of ${add.files_total}` : "";
    const within = add.current && add.current_duration_s ? ` (${clock(add.current_done_s)} of ${clock(add.current_duration_s)} into ${add.current.split("/").pop()})` : "";
    return `Adding: ${add.files_done}${of} files${within}`;
  }
  if (add.state === "done") return `Last add: ${add.added} added, ${add.skipped} unchanged, ${add.failed} failed`;
  if (add.state === "failed") return `Last add failed: ${add.error}`;
  return "";
}

async function refreshStatus() {
  let status;
  try { status = await api("/api/status"); } catch (err) { return; }
  const add = status.add;
  const box = $("#index-status");
  const button = el("button", { type: "button", textContent: "Add new and changed files", disabled: add.state === "running" || !add.folders.length,
    title: add.folders.length ? `Index ${add.folders.join(", ")}` : "Start the server with --folder to add from here",
    onclick: startAdd });
  const progress = add.state === "running" ? el("progress", { max: add.files_total || 1, value: add.files_done }) : null;
  box.replaceChildren(...[
    el("span", { textContent: `${status.done.toLocaleString()} videos indexed, ${status.failed.toLocaleString()} failed, ${status.windows.toLocaleString()} windows` }),
    button, progress, el("span", { className: add.state === "failed" ? "error" : "muted", textContent: addText(add) }),
  ].filter(Boolean));
  $("#adding").textContent = addText(add);
  $("#adding").hidden = add.state !== "running";
  if (add.state === "running" && !polling) polling = setInterval(refreshStatus, 1000);
  if (add.state !== "running" && polling) {
    clearInterval(polling);
    polling = null;
    if (!views.library.hidden) showLibrary(libraryQuery);
  }
}

async function startAdd() {
  try {
    await api("/api/index/add", { json: { prune: false } });
  } catch (err) {
    $("#index-status").append(el("span", { className: "error", textContent: err.message }));
  }
  refreshStatus();
}

window.addEventListener("hashchange", route);
route();
refreshStatus();
