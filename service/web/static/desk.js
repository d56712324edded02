// The lost-property desk: photograph a found item, check what was recognised, save; search the register.
// The API key comes as /ui/desk#key=... like the map's (kept for this tab only, never sent to a server in a URL).
"use strict";
// apiKey(), KEY, AUTH and call() come from api_key.js, loaded before this file.

const $ = (id) => document.getElementById(id);
const CATEGORIES = [
  ["taschen", "Taschen/Rucksäcke"], ["koffer", "Koffer"], ["elektronik_mobiltelefon", "Elektronik/Mobiltelefon"],
  ["elektronik_sonstige", "Elektronik/Sonstige"], ["geldboerse", "Geldbörse"], ["schirm", "Schirm"],
  ["fahrrad", "Fahrrad"], ["buecher", "Bücher"], ["spielzeug", "Spielzeug"], ["flaschen", "Flaschen"],
  ["sonstiges", "Sonstiges"],
];

function status(text) { $("status").textContent = text; }

function photoForm(extra) {
  const form = new FormData();
  form.append("photo", $("photo").files[0]);
  for (const [name, value] of Object.entries(extra)) if (value) form.append(name, value);
  return form;
}

for (const [key, label] of CATEGORIES) $("category").append(new Option(label, key));

$("photo").addEventListener("change", async () => {
  if (!$("photo").files.length) return;
  status("Erkenne …");
  $("preview").src = URL.createObjectURL($("photo").files[0]);
  try {
    const described = await call("/v1/lost-items/describe", { method: "POST", body: photoForm({}) });
    $("category").value = described.category.key;
    $("colors").value = described.colours.map((c) => c.key).join(", ");
    $("recognised").hidden = false;
    document.body.dataset.state = "recognised";
    status(`Erkannt: ${described.category.label_de}, ${described.colours.map((c) => c.label_de).join(", ")}`);
  } catch (error) { status(`Fehler: ${error.message}`); }
});

$("capture").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData($("capture"));
  const foundAt = data.get("found_at") ? new Date(data.get("found_at")).toISOString() : "";
  try {
    const item = await call("/v1/lost-items", {
      method: "POST",
      body: photoForm({
        category: data.get("category"), colors: data.get("colors"), found_place: data.get("found_place"),
        notes: data.get("notes"), found_at: foundAt,
      }),
    });
    document.body.dataset.state = "saved";
    status(`Gespeichert: Nr. ${item.id} (${item.category.label_de})`);
  } catch (error) { status(`Fehler: ${error.message}`); }
});

$("search").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const page = await call(`/v1/lost-items?q=${encodeURIComponent($("q").value)}`);
    $("results").replaceChildren(...page.items.map((item) => {
      const li = document.createElement("li");  // text only: values are data, never HTML
      li.dataset.id = item.id;
      li.textContent = `Nr. ${item.id}: ${item.category.label_de}, ${item.colours.map((c) => c.label_de).join(", ")}`
        + (item.found_place ? ` – ${item.found_place}` : "");
      return li;
    }));
    document.body.dataset.state = "searched";
    status(`${page.matched} Treffer`);
  } catch (error) { status(`Fehler: ${error.message}`); }
});
