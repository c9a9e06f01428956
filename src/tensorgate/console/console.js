// tensorgate's console: four views over the server's JSON routes. Every value from the
// server is shown through textContent (never parsed as HTML); the tokens stay in this
// tab's session storage and travel only in the Authorization header.
"use strict";

const $ = (id) => document.getElementById(id);
const LIVE_POINTS = 60;
const state = { view: "models", models: [], previous: null, history: {}, liveTimer: null, access: null };

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function showError(message) {
  $("error").textContent = message || "";
}

function token(kind) {
  return sessionStorage.getItem(kind === "control" ? "tg-control" : "tg-token") || "";
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const secret = options.control ? token("control") || token("api") : token("api");
  if (secret) headers.set("Authorization", "Bearer " + secret);
  const response = await fetch(path, { ...options, headers, cache: "no-store" });
  let body = null;
  const type = response.headers.get("content-type") || "";
  if (type.startsWith("application/json")) body = await response.json();
  if (!response.ok) {
    const message = body && body.error ? body.error : response.status + " " + response.statusText;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

// ---------------------------------------------------------------- formatting
function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return value.toFixed(unit ? 1 : 0) + " " + units[unit];
}

function ms(seconds) {
  return seconds === null || seconds === undefined || Number.isNaN(seconds) ? "–" : (seconds * 1000).toFixed(1);
}

// ---------------------------------------------------------------- views
function show(view) {
  state.view = view;
  for (const button of document.querySelectorAll("nav button")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  for (const panel of document.querySelectorAll("[data-view-panel]")) {
    panel.hidden = panel.dataset.viewPanel !== view;
  }
  clearInterval(state.liveTimer);
  state.liveTimer = null;
  if (state.access && state.access.auth && !token("api")) {
    showError("This server needs the API token: enter it above.");
    return;
  }
  if (view === "models") refreshModels();
  if (view === "try") refreshModels();
  if (view === "live") {
    state.previous = null;
    refreshLive();
    state.liveTimer = setInterval(refreshLive, 1000);
  }
  if (view === "server") refreshServer();
}

// Models ------------------------------------------------------------------
async function refreshModels() {
  try {
    const doc = await api("/console/api/models");
    state.models = doc.models;
    renderModels(doc);
    renderTryModels();
    showError("");
  } catch (error) {
    showError(error.status === 401 ? "This server needs the API token: enter it above." : error.message);
  }
}

function renderModels(doc) {
  const body = $("models-table").querySelector("tbody");
  body.replaceChildren();
  const budgets = doc.budget || {};
  for (const model of doc.models) {
    const row = el("tr");
    row.dataset.model = model.name;
    row.append(el("td", model.name));
    row.append(el("td", model.version === null ? "–" : model.version));
    const stateCell = el("td");
    stateCell.append(el("span", model.state, "state-" + model.state));
    if (model.reason) stateCell.append(el("span", model.reason, "reason"));
    row.append(stateCell);
    row.append(el("td", (model.pipeline ? "pipeline: " : "") + (model.task || (model.version ? "tensors (V2 infer)" : ""))));
    row.append(el("td", model.device || ""));
    row.append(el("td", model.instances ?? ""));
    const memory = el("td", model.memory !== undefined ? bytes(model.memory) : "");
    const budget = model.device ? budgets[model.device] : undefined;
    if (budget && model.memory !== undefined) {
      const bar = el("span", null, "bar");
      const fill = el("span");
      fill.style.width = Math.min(100, (100 * model.memory) / budget).toFixed(1) + "%";
      bar.append(fill);
      bar.title = "of a " + bytes(budget) + " budget";
      memory.append(bar);
    }
    row.append(memory);
    row.append(
      el(
        "td",
        model.max_batch_size === undefined
          ? model.steps.map((s) => s.name + (s.model ? " (" + s.model + ")" : "")).join(" → ")
          : "max " + model.max_batch_size + ", delay " + model.max_queue_delay_ms + " ms" +
              (model.preferred_batch_sizes.length ? ", preferred " + model.preferred_batch_sizes.join("/") : ""),
      ),
    );
    row.append(el("td", model.queue_rows ?? ""));
    const actions = el("td");
    for (const [label, action] of [["Load", "load"], ["Unload", "unload"], ["Reload", "reload"]]) {
      const button = el("button", label);
      button.type = "button";
      button.dataset.action = action;
      button.addEventListener("click", () => control(model.name, action));
      actions.append(button);
    }
    row.append(actions);
    body.append(row);
  }
  $("models-note").textContent = doc.models.length + " model versions and pipelines";
}

async function control(name, action) {
  const path = (verb) => "/v2/repository/models/" + encodeURIComponent(name) + "/" + verb;
  $("models-note").textContent = action + " " + name + "…";
  try {
    if (action === "reload") {
      await api(path("unload"), { method: "POST", control: true });
      await api(path("load"), { method: "POST", control: true });
    } else {
      await api(path(action), { method: "POST", control: true });
    }
    showError("");
  } catch (error) {
    showError(action + " " + name + ": " + error.message);
  }
  await refreshModels();
}

// Try it ------------------------------------------------------------------
function renderTryModels() {
  const select = $("try-model");
  const chosen = select.value;
  select.replaceChildren();
  for (const model of state.models) {
    if (model.state !== "READY" || !model.task) continue;
    if ([...select.options].some((o) => o.value === model.name)) continue;
    const option = el("option", model.name + " (" + model.task + ")");
    option.value = model.name;
    option.dataset.task = model.task;
    select.append(option);
  }
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

async function tryImage(file) {
  const option = $("try-model").selectedOptions[0];
  if (!option) {
    showError("No model is READY to try.");
    return;
  }
  const task = option.dataset.task;
  let path = "/v2/models/" + encodeURIComponent(option.value) + "/" + task;
  if (task === "classify") path += "?top_k=" + encodeURIComponent($("try-top").value || "5");
  $("try-note").textContent = "Sending " + file.name + " (" + bytes(file.size) + ") to " + option.value + "…";
  $("try-results").replaceChildren();
  const started = performance.now();
  try {
    const doc = await api(path, {
      method: "POST",
      body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" },
    });
    const took = performance.now() - started;
    const result = doc.results[0];
    $("try-note").textContent =
      file.name + ": " + option.value + " version " + doc.model_version + ", " + took.toFixed(0) + " ms";
    await drawImage(file, result);
    renderResult(result);
    showError("");
  } catch (error) {
    $("try-note").textContent = "";
    showError(file.name + ": " + error.message);
  }
}

function summary(answer) {
  if (answer.predictions) return answer.predictions.map((p) => p.label + " " + (p.score * 100).toFixed(1) + "%").join(", ");
  if (answer.text !== undefined) return "“" + answer.text + "” (" + (answer.score * 100).toFixed(1) + "%)";
  if (answer.matches) return answer.matches.map((m) => m.id + " " + m.score.toFixed(3)).join(", ");
  if (answer.dimension) return answer.dimension + "-d vector";
  if (answer.detections) return answer.detections.length + " detections";
  if (answer.regions) return answer.regions.length + " text regions";
  return "";
}

const ANSWER_FIELDS = new Set(["box", "score", "index", "label", "polygon", "filename"]);

function partsOf(item) {
  return Object.entries(item).filter(([key, value]) => !ANSWER_FIELDS.has(key) && value && typeof value === "object" && !Array.isArray(value));
}

function renderResult(result) {
  const list = $("try-results");
  list.replaceChildren();
  if (result.predictions) {
    for (const p of result.predictions) list.append(el("li", p.label + " — " + (p.score * 100).toFixed(2) + "%"));
  } else if (result.detections || result.regions) {
    const items = result.detections || result.regions;
    items.forEach((item, i) => {
      const head = item.label !== undefined ? item.label + " " + (item.score * 100).toFixed(1) + "%" : "region " + (i + 1) + " " + (item.score * 100).toFixed(1) + "%";
      const entry = el("li", head);
      for (const [name, part] of partsOf(item)) entry.append(el("div", name + ": " + summary(part), "reason"));
      list.append(entry);
    });
    if (!items.length) list.append(el("li", "nothing found"));
  } else if (result.dimension) {
    list.append(el("li", result.dimension + "-d embedding: " + result.embedding.slice(0, 6).map((v) => v.toFixed(4)).join(", ") + ", …"));
    for (const [name, part] of partsOf(result)) list.append(el("li", name + ": " + summary(part)));
  } else {
    list.append(el("li", summary(result)));
  }
}

async function drawImage(file, result) {
  const canvas = $("try-canvas");
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, 640 / bitmap.width);
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const g = canvas.getContext("2d");
  g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  // Boxes and polygons come in the original image's pixels.
  const sx = canvas.width / (result.width || bitmap.width);
  const sy = canvas.height / (result.height || bitmap.height);
  g.lineWidth = 2;
  g.font = "13px system-ui, sans-serif";
  for (const d of result.detections || []) {
    const [x1, y1, x2, y2] = d.box;
    g.strokeStyle = "#ff3b30";
    g.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
    const label = (d.label || String(d.index)) + " " + (d.score * 100).toFixed(0) + "%";
    g.fillStyle = "#ff3b30";
    g.fillRect(x1 * sx, Math.max(0, y1 * sy - 16), g.measureText(label).width + 6, 16);
    g.fillStyle = "#fff";
    g.fillText(label, x1 * sx + 3, Math.max(12, y1 * sy - 4));
  }
  for (const r of result.regions || []) {
    g.strokeStyle = "#34c759";
    g.beginPath();
    r.polygon.forEach(([x, y], i) => (i ? g.lineTo(x * sx, y * sy) : g.moveTo(x * sx, y * sy)));
    g.closePath();
    g.stroke();
  }
}

// Live metrics ----------------------------------------------------------------
function delta(now, before, field) {
  const a = now[field];
  const b = before ? before[field] : undefined;
  if (!a) return null;
  return { sum: a.sum - (b ? b.sum : 0), count: a.count - (b ? b.count : 0), buckets: a.buckets.map(([le, n], i) => [le, n - (b && b.buckets[i] ? b.buckets[i][1] : 0)]) };
}

function quantile(q, histogram) {
  if (!histogram) return null;
  const total = histogram.buckets.length ? histogram.buckets[histogram.buckets.length - 1][1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, cumulative] of histogram.buckets) {
    if (cumulative >= rank) {
      if (le === null) return lower;
      return lower + ((le - lower) * (rank - below)) / Math.max(cumulative - below, 1e-9);
    }
    lower = le === null ? lower : le;
    below = cumulative;
  }
  return lower;
}

function total(counts, skip) {
  return Object.entries(counts || {}).reduce((sum, [key, n]) => (key === skip ? sum : sum + n), 0);
}

async function refreshLive() {
  let snapshot;
  try {
    snapshot = await api("/console/api/live");
    showError("");
  } catch (error) {
    showError(error.status === 401 ? "This server needs the API token: enter it above." : error.message);
    return;
  }
  const previous = state.previous;
  state.previous = snapshot;
  if (!previous) {
    $("live-note").textContent = "Measuring…";
    return;
  }
  const seconds = Math.max(snapshot.time - previous.time, 1e-3);
  const container = $("live-models");
  for (const [name, now] of Object.entries(snapshot.models)) {
    const before = previous.models[name] || {};
    const ok = ((now.requests || {}).success || 0) - ((before.requests || {}).success || 0);
    const failed = total(now.requests, "success") - total(before.requests, "success");
    const latency = delta(now, before, "latency");
    const batch = delta(now, before, "batch");
    const split = ["decode", "queue", "compute"].map((f) => {
      const d = delta(now, before, f);
      return d && d.count > 0 ? d.sum / d.count : null;
    });
    const figures = {
      "img/s": (ok / seconds).toFixed(1),
      "p50 ms": ms(quantile(0.5, latency)),
      "p99 ms": ms(quantile(0.99, latency)),
      "queue": String(now.queue_depth ?? 0),
      "batch": batch && batch.count > 0 ? (batch.sum / batch.count).toFixed(1) : "–",
      "errors/s": (failed / seconds).toFixed(1),
      "decode ms": ms(split[0]),
      "queue ms": ms(split[1]),
      "compute ms": ms(split[2]),
    };
    const history = (state.history[name] = state.history[name] || { "img/s": [], "p99 ms": [], queue: [] });
    for (const key of Object.keys(history)) {
      history[key].push(Number.parseFloat(figures[key]) || 0);
      if (history[key].length > LIVE_POINTS) history[key].shift();
    }
    renderCard(container, name, figures, history);
  }
  $("live-note").textContent = "Updated " + new Date(snapshot.time * 1000).toLocaleTimeString();
}

function renderCard(container, name, figures, history) {
  let card = [...container.children].find((c) => c.dataset.model === name);
  if (!card) {
    card = el("div", null, "card");
    card.dataset.model = name;
    card.append(el("h3", name), el("div", null, "figures"));
    for (const key of Object.keys(history)) {
      const canvas = el("canvas");
      canvas.dataset.series = key;
      canvas.title = key + ", last " + LIVE_POINTS + " s";
      card.append(canvas);
    }
    container.append(card);
  }
  const grid = card.querySelector(".figures");
  grid.replaceChildren();
  for (const [key, value] of Object.entries(figures)) {
    const figure = el("div", null, "figure");
    figure.dataset.figure = key;
    figure.append(el("b", value), el("span", key));
    grid.append(figure);
  }
  for (const canvas of card.querySelectorAll("canvas")) sparkline(canvas, history[canvas.dataset.series], canvas.dataset.series);
}

function sparkline(canvas, values, label) {
  const width = (canvas.width = canvas.clientWidth || 300);
  const height = (canvas.height = 40);
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const top = Math.max(...values, 1e-9);
  g.strokeStyle = "#0b6bcb";
  g.beginPath();
  values.forEach((v, i) => {
    const x = (i / Math.max(LIVE_POINTS - 1, 1)) * width;
    const y = height - 4 - (v / top) * (height - 14);
    if (i) g.lineTo(x, y);
    else g.moveTo(x, y);
  });
  g.stroke();
  g.fillStyle = "#5c6773";
  g.font = "10px system-ui, sans-serif";
  g.fillText(label + " (max " + top.toFixed(1) + ")", 2, 10);
}

// Server ------------------------------------------------------------------
function flatten(prefix, value, out) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(prefix ? prefix + "." + key : key, inner, out);
  } else {
    out.push([prefix, Array.isArray(value) ? JSON.stringify(value) : String(value)]);
  }
  return out;
}

async function refreshServer() {
  try {
    const doc = await api("/console/api/server");
    const list = $("server-info");
    list.replaceChildren();
    for (const [key, value] of flatten("", doc, [])) list.append(el("dt", key), el("dd", value));
    showError("");
  } catch (error) {
    showError(error.status === 401 ? "This server needs the API token: enter it above." : error.message);
  }
}

// Wiring ------------------------------------------------------------------
function start() {
  for (const button of document.querySelectorAll("nav button")) button.addEventListener("click", () => show(button.dataset.view));
  $("token").value = token("api");
  $("control-token").value = token("control");
  $("use-tokens").addEventListener("click", () => {
    sessionStorage.setItem("tg-token", $("token").value);
    sessionStorage.setItem("tg-control", $("control-token").value);
    show(state.view);
  });
  const drop = $("drop");
  $("try-file").addEventListener("change", (event) => event.target.files[0] && tryImage(event.target.files[0]));
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) tryImage(file);
  });
  $("control-token").disabled = false;
  api("/console/access")
    .then((access) => {
      state.access = access;
      if (!access.model_control) {
        $("control-token").disabled = true;
        $("control-token").title = "model control is off on this server";
      }
      show("models");
    })
    .catch((error) => showError(error.message));
}

document.addEventListener("DOMContentLoaded", start);
