// The review page: work through stored detections, lowest confidence first. Confirm, reject,
// change the class, drag or resize the box, or draw an object the model missed, by mouse or keys.
// The API key comes as /ui/review#key=... (kept for this tab only, never sent in a URL).
"use strict";
// apiKey(), KEY, AUTH and call() come from api_key.js, loaded before this file.

const $ = (id) => document.getElementById(id);
const STATUS_DE = {
  unreviewed: "ungeprüft", confirmed: "bestätigt", rejected: "abgelehnt", corrected: "korrigiert", added: "ergänzt",
};
const queue = { items: [], classes: {}, index: 0, decided: 0 };
let edit = null; // the box being changed, in frame pixels: {box: [x1, y1, x2, y2], moved: bool}
let draft = null; // a box being drawn: {box: [...]}, or {} while waiting for the first drag
window.stadtblick = queue;

function status(text) { $("status").textContent = text; }
function setState(state) { document.body.dataset.state = state; }
function current() { return queue.items[queue.index]; }

async function loadQueue() {
  setState("loading");
  const params = new URLSearchParams({ limit: "200" });
  for (const [name, value] of new FormData($("filters"))) if (value.trim()) params.set(name, value.trim());
  try {
    const page = await call(`/v1/review/queue?${params}`);
    Object.assign(queue, { items: page.items, classes: page.classes, index: 0 });
    status(`${page.matched} in der Warteschlange`);
    show();
  } catch (error) { status(`Fehler: ${error.message}`); setState("error"); }
}

function scale() { const item = current(); return $("frame").clientWidth / item.width; }

function place(element, box) {
  const s = scale();
  Object.assign(element.style, {
    left: `${box[0] * s}px`, top: `${box[1] * s}px`, width: `${(box[2] - box[0]) * s}px`, height: `${(box[3] - box[1]) * s}px`,
  });
}

function show() {
  const item = current();
  edit = null; draft = null;
  $("draft").hidden = true;
  $("stage").classList.remove("drawing");
  if (!item) {
    $("box").hidden = true; $("others").replaceChildren(); $("facts").replaceChildren();
    $("stage").dataset.detection = "";
    status(`Warteschlange leer (${queue.decided} entschieden)`);
    setState("empty");
    return;
  }
  $("class").replaceChildren(...(queue.classes[item.detector] || [item.class]).map((c) => new Option(c, c)));
  $("class").value = item.class;
  const facts = [
    ["Fahrt", item.drive_id], ["Bild", `${item.frame_id}`], ["Detektor", `${item.detector} ${item.model_version || "–"}`],
    ["Klasse", item.class], ["Konfidenz", item.confidence.toFixed(3)], ["Status", STATUS_DE[item.review_status]],
    ["Position", `${queue.index + 1} von ${queue.items.length}`],
  ];
  $("facts").replaceChildren(...facts.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;  // text only: values are data
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
  const img = $("frame");
  $("stage").style.maxWidth = `calc((100vh - 8rem) * ${item.width / item.height})`;  // the whole frame in view
  setState("loading");
  img.onload = () => {
    $("box").hidden = false;
    $("box").classList.remove("changed");
    place($("box"), item.box);
    $("others").replaceChildren(...item.others.filter((o) => o.review_status !== "rejected").map((o) => {
      const div = document.createElement("div"); div.className = "other"; place(div, o.box); return div;
    }));
    $("stage").dataset.detection = String(item.id);
    setState("ready");
  };
  img.onerror = () => { status(`Bild ${item.frame_id} nicht verfügbar`); setState("error"); };
  fetch(item.image, { headers: AUTH })
    .then((r) => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.blob(); })
    .then((blob) => { if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src); img.src = URL.createObjectURL(blob); })
    .catch((error) => { status(`Bild: ${error.message}`); setState("error"); });
}

async function decide(body) {
  const item = current();
  if (!item || document.body.dataset.state !== "ready") return;
  setState("busy");
  try {
    const updated = await call(`/v1/review/detections/${item.id}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    queue.items[queue.index] = updated;
    queue.decided += 1;
    status(`${item.class} (${item.id}): ${STATUS_DE[updated.review_status]}`);
    queue.index += 1;
    show();
  } catch (error) { status(`Fehler: ${error.message}`); setState("ready"); }
}

function pendingCorrection() {
  const item = current();
  const body = { action: "correct" };
  if ($("class").value !== item.class) body.class = $("class").value;
  if (edit?.moved) body.box = edit.box.map((v) => Math.round(v * 10) / 10);
  return body.class || body.box ? body : null;
}

async function saveDraft() {
  const item = current();
  if (!draft?.box) return;
  setState("busy");
  try {
    const added = await call(`/v1/review/frames/${item.frame_id}/detections`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ detector: item.detector, class: $("class").value, box: draft.box.map((v) => Math.round(v * 10) / 10) }),
    });
    item.others.push({ id: added.id, class: added.class, box: added.box, review_status: added.review_status });
    queue.decided += 1;
    status(`ergänzt: ${added.class} (${added.id})`);
    show();
  } catch (error) { status(`Fehler: ${error.message}`); setState("ready"); }
}

function save() {
  if (draft) { saveDraft(); return; }
  const body = pendingCorrection();
  if (body) decide(body); else status("Nichts geändert: C bestätigt");
}

function step(delta) {
  queue.index = Math.min(Math.max(queue.index + delta, 0), queue.items.length);
  show();
}

function startDrawing() {
  if (!current() || document.body.dataset.state !== "ready") return;
  draft = {};
  $("stage").classList.add("drawing");
  status("Fehlendes Objekt: Rahmen aufziehen, Klasse wählen, ↵ speichert");
}

function framePoint(event) {
  const rect = $("frame").getBoundingClientRect();
  const s = scale(), item = current();
  const x = Math.min(Math.max((event.clientX - rect.left) / s, 0), item.width);
  const y = Math.min(Math.max((event.clientY - rect.top) / s, 0), item.height);
  return [x, y];
}

// Dragging: the box body moves it, the corner handle resizes it; in drawing mode the stage draws.
$("stage").addEventListener("pointerdown", (event) => {
  const item = current();
  if (!item || document.body.dataset.state !== "ready") return;
  event.preventDefault();
  const start = framePoint(event);
  let update;
  if (draft) {
    update = (p) => {
      draft.box = [Math.min(start[0], p[0]), Math.min(start[1], p[1]), Math.max(start[0], p[0]), Math.max(start[1], p[1])];
      $("draft").hidden = false; place($("draft"), draft.box);
    };
  } else if (event.target === $("handle") || event.target === $("box")) {
    const from = (edit?.box || item.box).slice();
    const resize = event.target === $("handle");
    update = (p) => {
      const dx = p[0] - start[0], dy = p[1] - start[1];
      const box = resize
        ? [from[0], from[1], Math.max(from[0] + 2, Math.min(from[2] + dx, item.width)), Math.max(from[1] + 2, Math.min(from[3] + dy, item.height))]
        : (() => {
          const mx = Math.min(Math.max(dx, -from[0]), item.width - from[2]);
          const my = Math.min(Math.max(dy, -from[1]), item.height - from[3]);
          return [from[0] + mx, from[1] + my, from[2] + mx, from[3] + my];
        })();
      edit = { box, moved: true };
      $("box").classList.add("changed"); place($("box"), box);
    };
  } else return;
  const move = (e) => update(framePoint(e));
  const up = (e) => {
    update(framePoint(e));
    window.removeEventListener("pointermove", move);
    window.removeEventListener("pointerup", up);
    status(draft ? "Klasse wählen, ↵ speichert das ergänzte Objekt" : "Box geändert: ↵ speichert, Esc verwirft");
  };
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);
});

document.addEventListener("keydown", (event) => {
  if (event.target.closest && event.target.closest("#filters")) return;  // typing a filter
  if (event.target.id === "class" && event.key.startsWith("Arrow")) return;  // choosing in the list
  const key = event.key.toLowerCase();
  const actions = {
    c: () => decide({ action: "confirm" }),
    x: () => decide({ action: "reject" }),
    enter: save,
    n: startDrawing,
    escape: show,
    j: () => step(1),
    arrowright: () => step(1),
    k: () => step(-1),
    arrowleft: () => step(-1),
  };
  if (actions[key]) { event.preventDefault(); actions[key](); return; }
  if (/^[1-9]$/.test(key)) {
    const options = $("class").options;
    const n = Number(key) - 1;
    if (n < options.length) { $("class").selectedIndex = n; status(`Klasse ${options[n].value}: ↵ speichert`); }
  }
});

$("confirm").addEventListener("click", () => decide({ action: "confirm" }));
$("reject").addEventListener("click", () => decide({ action: "reject" }));
$("save").addEventListener("click", save);
$("draw").addEventListener("click", startDrawing);
$("next").addEventListener("click", () => step(1));
$("prev").addEventListener("click", () => step(-1));
$("filters").addEventListener("submit", (event) => { event.preventDefault(); loadQueue(); });
window.addEventListener("resize", () => { if (current() && document.body.dataset.state === "ready") show(); });

loadQueue();
