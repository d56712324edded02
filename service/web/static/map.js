// The map page: damage records and graded road segments from the service's own OGC API.
// Works without a base map (STADTBLICK_MAP_TILE_URL empty): the data layers need no tiles.
"use strict";
// apiKey(), KEY and AUTH come from api_key.js, loaded before this file.

const GRADE_COLORS = { 1: "#1a9850", 2: "#91cf60", 3: "#fee08b", 4: "#fc8d59", 5: "#d73027" };
const GRADE_NAMES = { 1: "sehr gut", 2: "gut", 3: "befriedigend", 4: "ausreichend", 5: "dringend" };
const REVIEW_DE = { confirmed: "bestätigt", corrected: "korrigiert", added: "ergänzt" };
const LAYERS = [
  { id: "road_condition", title: "Straßenzustand" },
  { id: "road_damage", title: "Straßenschäden", color: "#b2182b" },
  { id: "graffiti", title: "Graffiti", color: "#6a3d9a" },
];


async function fetchAll(root, collection) {
  // Follow the `next` links: every feature of the collection, 1000 per request.
  const features = [];
  let url = `${root}/collections/${collection}/items?limit=1000`;
  while (url) {
    const response = await fetch(url, { headers: { Accept: "application/geo+json", ...AUTH } });
    if (!response.ok) throw new Error(`${collection}: HTTP ${response.status}`);
    const page = await response.json();
    features.push(...page.features);
    const next = (page.links || []).find((link) => link.rel === "next");
    url = next ? next.href : null;
  }
  return features;
}

function popup(rows, photo) {
  // Built from DOM nodes, never from HTML strings: property values are data.
  const box = document.createElement("div");
  box.className = "popup";
  const list = document.createElement("dl");
  for (const [label, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value ?? "–";
    list.append(dt, dd);
  }
  box.append(list);
  if (photo) {
    const img = document.createElement("img");
    if (KEY) {  // an <img> cannot send the key: fetch the photo with it
      fetch(photo, { headers: AUTH })
        .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(`HTTP ${r.status}`))))
        .then((blob) => { img.src = URL.createObjectURL(blob); })
        .catch(() => { img.alt = "Foto nicht verfügbar"; });
    } else {
      img.src = photo;
    }
    img.alt = "bestes Foto";
    img.loading = "lazy";
    box.append(img);
  }
  return box;
}

function segmentLayer(features) {
  return L.geoJSON(features, {
    style: (f) => ({ color: GRADE_COLORS[f.properties.grade] || "#777", weight: 6, opacity: 0.9 }),
    onEachFeature: (f, layer) => {
      const p = f.properties;
      layer.bindPopup(() => popup([
        ["Note", `${p.grade} (${GRADE_NAMES[p.grade]})`],
        ["Schäden", p.damage_count],
        ["Index", `${p.damage_index} / 100 m`],
        ["Länge", `${Math.round(p.length_m)} m`],
        ["Fahrt", p.drive_id],
        ["Zeit", p.start_time],
      ]));
    },
  });
}

function damageLayer(features, color) {
  return L.geoJSON(features, {
    pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 7, color, weight: 2, fillOpacity: 0.7 }),
    onEachFeature: (f, layer) => {
      const p = f.properties;
      layer.bindPopup(() => popup([
        ["Art", p.class],
        ["Sichtungen", p.count],
        ["Konfidenz", p.max_confidence],
        ["Prüfung", p.human_confirmed ? `von Menschen ${REVIEW_DE[p.review_status]}` : "ungeprüft (nur Modell)"],
        ["Zuerst", p.first_seen],
        ["Zuletzt", p.last_seen],
        ["Fahrt", p.drive_id],
      ], p.photo), { minWidth: 230 });
    },
  });
}

function legend() {
  const control = L.control({ position: "bottomright" });
  control.onAdd = () => {
    const box = L.DomUtil.create("div", "legend");
    for (const grade of [1, 2, 3, 4, 5]) {
      const row = L.DomUtil.create("div", "", box);
      const swatch = L.DomUtil.create("i", "", row);
      swatch.style.background = GRADE_COLORS[grade];
      row.append(`${grade} ${GRADE_NAMES[grade]}`);
    }
    return box;
  };
  return control;
}

async function main() {
  const config = JSON.parse(document.getElementById("map-config").textContent);
  const status = document.getElementById("status");
  const map = L.map("map").setView([51.16, 10.45], 6);
  if (config.tileUrl) {
    L.tileLayer(config.tileUrl, { attribution: config.attribution, maxZoom: 20 }).addTo(map);
  }
  const overlays = {};
  const counts = {};
  const bounds = L.latLngBounds([]);
  for (const spec of LAYERS) {
    const features = await fetchAll(config.ogcRoot, spec.id);
    counts[spec.id] = features.length;
    const layer = spec.id === "road_condition" ? segmentLayer(features) : damageLayer(features, spec.color);
    layer.addTo(map);
    overlays[`${spec.title} (${features.length})`] = layer;
    if (features.length) bounds.extend(layer.getBounds());
  }
  L.control.layers(null, overlays, { collapsed: false }).addTo(map);
  legend().addTo(map);
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20] });
  status.textContent = `${counts.road_damage} Straßenschäden, ${counts.graffiti} Graffiti, ${counts.road_condition} Abschnitte`;
  window.stadtblick = { map, counts };
  document.body.dataset.state = "ready";
}

main().catch((error) => {
  document.getElementById("status").textContent = `Fehler: ${error.message}`;
  document.body.dataset.state = "error";
});
