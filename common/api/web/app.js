// Logo-ANN browser: open a logo, see its nearest neighbours as crops, click one to pivot,
// or upload a photo to search with every logo found in it. Plain DOM, no dependencies.
"use strict";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);
const state = { logoId: null, cursor: null, uploadCount: 12 };

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function getJson(url, options) {
  const response = await fetch(url, options);
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    throw new Error(`${response.status} ${response.statusText}`);
  }
  if (!response.ok) throw new Error(body && body.error ? body.error : `HTTP ${response.status}`);
  return body;
}

function searchParams(extra) {
  const params = new URLSearchParams({ count: $("count-select").value, paginate: "true" });
  const annotated = $("annotated-filter").value;
  if (annotated) params.set("annotated", annotated);
  for (const [key, value] of Object.entries(extra || {})) params.set(key, value);
  return params;
}

function cropUrl(logoId) {
  return `${API}/logos/${logoId}/crop`;
}

function neighbourCard(neighbour) {
  const card = document.createElement("button");
  card.type = "button";
  card.className = "card";
  card.dataset.logoId = String(neighbour.logo_id);
  card.title = `open logo ${neighbour.logo_id}`;
  card.setAttribute("aria-label", `logo ${neighbour.logo_id}, distance ${neighbour.distance.toFixed(4)}`);
  card.disabled = true; // chosen only once its crop shows
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = `logo ${neighbour.logo_id}`;
  img.addEventListener("load", () => { card.disabled = false; });
  img.addEventListener("error", () => card.classList.add("broken"));
  img.src = cropUrl(neighbour.logo_id);
  const id = document.createElement("div");
  id.className = "id";
  id.textContent = `#${neighbour.logo_id}`;
  const distance = document.createElement("div");
  distance.className = "distance";
  distance.textContent = `d = ${neighbour.distance.toFixed(4)}`;
  const badge = document.createElement("div");
  badge.className = "badge";
  card.append(img, id, distance, badge);
  card.addEventListener("click", () => openLogo(neighbour.logo_id, true));
  return card;
}

function renderDetails(logo) {
  $("query-id").textContent = String(logo.id);
  $("query-crop").src = cropUrl(logo.id);
  const rows = [
    ["score", logo.score.toFixed(3)],
    ["label", logo.label],
    ["box", logo.bounding_box.map((v) => v.toFixed(3)).join(", ")],
    ["annotation", logo.annotation_value || logo.annotation_type || "none"],
  ];
  if (logo.image) {
    rows.push(["image", `${logo.image.source_image} (${logo.image.width}×${logo.image.height})`]);
  }
  const details = $("query-details");
  details.replaceChildren();
  for (const [name, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    details.append(dt, dd);
  }
  $("query").hidden = false;
}

function renderNeighbours(body, append) {
  const grid = $("grid");
  if (!append) grid.replaceChildren();
  for (const neighbour of body.results) grid.append(neighbourCard(neighbour));
  badges(body.results.map((n) => n.logo_id));
  state.cursor = body.next_cursor || null;
  $("more-button").hidden = !state.cursor;
  $("neighbours").hidden = false;
  const shown = grid.children.length;
  setStatus(shown ? `${shown} neighbours of logo ${state.logoId}` : `logo ${state.logoId} has no neighbours yet`);
}

// each neighbour's state: annotated (its value) or predicted (value, confidence), one request
async function badges(ids) {
  if (!ids.length) return;
  try {
    const params = new URLSearchParams();
    for (const id of ids) params.append("logo_ids", String(id));
    const body = await getJson(`${API}/images/logos?${params}`);
    await window.ui.spell(body.logos.filter((l) => l.prediction).map((l) => [l.prediction.type, l.prediction.value]));
    for (const logo of body.logos) {
      const card = document.querySelector(`#grid .card[data-logo-id='${logo.id}'] .badge`);
      if (!card) continue;
      const p = logo.prediction;
      if (logo.annotation_type) {
        card.textContent = `✓ ${logo.annotation_value || logo.annotation_type}`;
        card.className = "badge annotated";
      } else if (p) {
        card.textContent = `~ ${window.ui.shown(p.type, p.value) || p.type} ${p.confidence.toFixed(2)}`;
        card.className = "badge predicted";
      }
      card.title = card.textContent.startsWith("✓") ? "annotated" : "predicted (value, confidence)";
    }
  } catch (err) {
    setStatus(`Could not read the neighbours' labels: ${err.message}`, true);
  }
}

async function showLogo(logoId, searchBody, push) {
  const logo = await getJson(`${API}/logos/${logoId}`);
  state.logoId = logoId;
  renderDetails(logo);
  renderNeighbours(searchBody, false);
  $("logo-input").value = String(logoId);
  const url = `?logo=${logoId}`;
  if (location.hash && !location.hash.startsWith("#/logo")) return; // another view is open: keep its address
  if (push) history.pushState({ logo: logoId }, "", url);
  else history.replaceState({ logo: logoId }, "", url);
}

async function openLogo(logoId, push) {
  setStatus(`loading logo ${logoId}…`);
  try {
    const body = await getJson(`${API}/ann/search/${logoId}?${searchParams()}`);
    await showLogo(logoId, body, push);
  } catch (err) {
    setStatus(`Could not open logo ${logoId}: ${err.message}`, true);
  }
}

async function openRandom() {
  setStatus("picking a random logo…");
  try {
    const body = await getJson(`${API}/ann/search?${searchParams()}`);
    if (body.query_logo_id === null) {
      setStatus("No logo has an embedding yet: upload or ingest some images first.");
      return;
    }
    await showLogo(body.query_logo_id, body, true);
  } catch (err) {
    setStatus(`Could not pick a random logo: ${err.message}`, true);
  }
}

async function loadMore() {
  if (!state.cursor || state.logoId === null) return;
  try {
    const params = searchParams({ cursor: state.cursor });
    renderNeighbours(await getJson(`${API}/ann/search/${state.logoId}?${params}`), true);
  } catch (err) {
    setStatus(`Could not load more: ${err.message}`, true);
  }
}

function cropCanvas(bitmap, box) {
  const [yMin, xMin, yMax, xMax] = box;
  const sx = Math.floor(xMin * bitmap.width);
  const sy = Math.floor(yMin * bitmap.height);
  const sw = Math.max(1, Math.floor(xMax * bitmap.width) - sx);
  const sh = Math.max(1, Math.floor(yMax * bitmap.height) - sy);
  const canvas = document.createElement("canvas");
  canvas.width = sw;
  canvas.height = sh;
  canvas.getContext("2d").drawImage(bitmap, sx, sy, sw, sh, 0, 0, sw, sh);
  return canvas;
}

function uploadedLogo(bitmap, logo, index) {
  const row = document.createElement("div");
  row.className = "upload-logo";
  const left = document.createElement("div");
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `logo ${index + 1}: ${logo.label}, score ${logo.score.toFixed(3)}`;
  left.append(bitmap ? cropCanvas(bitmap, logo.bounding_box) : document.createElement("div"), meta);
  const grid = document.createElement("div");
  grid.className = "grid";
  for (const neighbour of logo.results) grid.append(neighbourCard(neighbour));
  row.append(left, grid);
  return row;
}

async function searchByPhoto(file) {
  setStatus(`searching with the logos in ${file.name}…`);
  const form = new FormData();
  form.append("file", file);
  try {
    const body = await getJson(`${API}/search/image?count=${state.uploadCount}`, { method: "POST", body: form });
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file);
    } catch (err) {
      bitmap = null; // the browser cannot decode it; the server could: show results without crops
    }
    $("upload-name").textContent = file.name;
    const list = $("upload-logos");
    list.replaceChildren(...body.logos.map((logo, i) => uploadedLogo(bitmap, logo, i)));
    $("upload-results").hidden = false;
    $("upload-results").scrollIntoView({ block: "start" });
    setStatus(body.count ? `${body.count} logos found in ${file.name}` : `no logo found in ${file.name}`);
  } catch (err) {
    setStatus(`Search by photo failed: ${err.message}`, true);
  }
}

async function showBanner() {
  try {
    const info = await getJson(`${API}/info`);
    $("standin-banner").hidden = !info.standin_models;
  } catch (err) {
    // the page works without it
  }
}

function logoFromUrl() {
  const raw = new URLSearchParams(location.search).get("logo");
  return raw && /^\d+$/.test(raw) ? Number(raw) : null;
}

function start() {
  $("open-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("logo-input").value.trim();
    if (/^\d+$/.test(value)) openLogo(Number(value), true);
  });
  $("random-button").addEventListener("click", openRandom);
  $("more-button").addEventListener("click", loadMore);
  for (const id of ["annotated-filter", "count-select"]) {
    $(id).addEventListener("change", () => state.logoId !== null && openLogo(state.logoId, false));
  }
  $("upload-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) searchByPhoto(file);
  });
  window.addEventListener("popstate", () => {
    const logoId = logoFromUrl();
    if (logoId !== null) openLogo(logoId, false);
  });
  showBanner();
  window.logoAnn = { openLogo, openRandom, current: () => state.logoId };
  if (location.hash && !location.hash.startsWith("#/logo")) return; // another view (views.js)
  const hashed = /^#\/logo\/(\d+)/.exec(location.hash);
  const logoId = hashed ? Number(hashed[1]) : logoFromUrl();
  if (logoId !== null) openLogo(logoId, false);
  else openRandom();
}

start();
