// What every view shares: API calls whose errors land on the page, who the page writes as, a toast
// that says what an action did with its undo, crop cards that can be chosen only once their crop
// shows, the value field's completions and the value (not the tag) of a prediction. Plain DOM.
"use strict";

window.ui = (() => {
  const API = "/api/v1";
  const $ = (id) => document.getElementById(id);
  const KEY = "logo-ann-authorization";
  const TYPES = ["brand", "label", "category", "store", "packaging", "packager_code", "qr_code", "nutritional_label", "no_logo"];
  const state = { localUser: null, lastUndo: null, spellings: new Map(), asked: new Set(), completing: 0 };

  function authorization() {
    const token = $("auth-token") && $("auth-token").value.trim();
    if (token) return `Bearer ${token}`;
    const user = $("auth-user") && $("auth-user").value.trim();
    if (user) return `Basic ${btoa(`${user}:${$("auth-password").value}`)}`;
    return sessionStorage.getItem(KEY);
  }

  // a write: signed when the person signed in, else (the machine itself) as the local user
  async function write(url, method, body) {
    const headers = body === undefined ? {} : { "Content-Type": "application/json" };
    const auth = authorization();
    if (auth) headers.Authorization = auth;
    else if (!state.localUser) throw new Error("sign in first (Open Food Facts user and password, or a service token, on the Logo view)");
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (err) { parsed = null; }
    if (!response.ok) throw new Error(parsed && parsed.error ? parsed.error : `HTTP ${response.status}`);
    if (auth) sessionStorage.setItem(KEY, auth);
    return { body: parsed, operation: Number(response.headers.get("Operation-Id")) || null };
  }

  async function get(url) {
    const response = await fetch(url);
    let body = null;
    try { body = await response.json(); } catch (err) { throw new Error(`${response.status} ${response.statusText}`); }
    if (!response.ok) throw new Error(body && body.error ? body.error : `HTTP ${response.status}`);
    return body;
  }

  // what an action did, and its undo (button and the u key): an operation's id, or a function for an
  // action that stays in this browser (keeping a suspect)
  function toast(text, isError = false, operation = null) {
    $("toast").hidden = false;
    $("toast").classList.toggle("error", isError);
    $("toast-text").textContent = text;
    state.lastUndo = operation;
    $("toast-undo").hidden = !operation;
    if (isError) console.warn(text);
  }

  async function undo(operation = state.lastUndo, after = null) {
    if (!operation) return toast("Nothing to undo.", true);
    if (typeof operation === "function") return operation();
    try {
      const { body } = await write(`${API}/annotations/operations/${operation}/revert`, "POST");
      const skipped = body.skipped.length ? `; ${body.skipped.length} changed since were kept (${body.skipped.join(", ")})` : "";
      toast(`Undid operation ${operation}: ${body.restored.length} logos restored${skipped}.`, false, body.operation_id);
      if (after) await after();
      window.dispatchEvent(new CustomEvent("logo-ann:changed"));
    } catch (err) {
      toast(`Undo failed: ${err.message}`, true);
    }
  }

  // a crop card: a button that is enabled only once its crop has loaded (a late crop is a wrong answer)
  function card(logoId, caption, onClick) {
    const el = document.createElement("button");
    el.type = "button";
    el.className = "card";
    el.dataset.logoId = String(logoId);
    el.disabled = true;
    el.setAttribute("aria-label", `logo ${logoId}${caption ? `, ${caption}` : ""}`);
    const img = document.createElement("img");
    img.alt = `logo ${logoId}`;
    img.addEventListener("load", () => { el.disabled = false; });
    img.addEventListener("error", () => { el.classList.add("broken"); img.alt = `crop of logo ${logoId} unavailable`; });
    img.src = `${API}/logos/${logoId}/crop`;
    const id = document.createElement("div");
    id.className = "id";
    id.textContent = `#${logoId}`;
    el.append(img, id);
    if (caption) {
      const small = document.createElement("div");
      small.className = "caption";
      small.textContent = caption;
      el.append(small);
    }
    if (onClick) el.addEventListener("click", () => onClick(el));
    return el;
  }

  function fillTypes(select, chosen = "brand") {
    if (select.options.length) return;
    for (const t of TYPES) {
      const option = document.createElement("option");
      option.value = t;
      option.textContent = t.replace("_", " ");
      select.append(option);
    }
    select.value = chosen;
  }

  // Robotoff's tag rule (common.labels.values.value_tag), to match a typed value to a canonical one
  function valueTag(value) {
    const folded = value.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replaceAll(" & ", "-");
    return folded.replace(/[ '.]/g, "-").replace(/[!?]/g, "").replace(/^-+|-+$/g, "");
  }

  // the value people typed for a canonical value (a prediction carries the tag or taxonomy id)
  function shown(type, canonical) {
    if (!canonical) return "";
    return state.spellings.get(`${type}\u0000${canonical}`) || canonical;
  }

  // the last thing typed wins: an earlier answer that comes late (the one asked on focus) is dropped
  async function complete(type, text) {
    const asked = ++state.completing;
    try {
      const body = await get(`${API}/values/complete?${new URLSearchParams({ type, q: text, count: "20" })}`);
      learn(body.values);
      if (asked !== state.completing) return;
      const list = $("value-options");
      list.replaceChildren(...body.values.map((v) => {
        const option = document.createElement("option");
        option.value = v.value;
        option.label = v.source === "used" ? `${v.value} (${v.logos} logos)` : `${v.value} (taxonomy)`;
        return option;
      }));
    } catch (err) {
      toast(`Could not complete the value: ${err.message}`, true);
    }
  }

  function learn(values) {
    for (const v of values) if (v.source === "used") state.spellings.set(`${v.type}\u0000${v.canonical}`, v.value);
  }

  // the spellings of canonical values about to be shown (a prediction, a suspect, a badge): one
  // completion request for each value not asked about yet, so any value reads as people typed it
  // (the type's 100 most used in one request first, the rest one by one)
  async function spell(pairs) {
    const missing = () => [...new Set(pairs.filter(([t, c]) => t && c).map(([t, c]) => `${t}\u0000${c}`))]
      .filter((key) => !state.spellings.has(key) && !state.asked.has(key));
    const types = [...new Set(missing().map((key) => key.split("\u0000")[0]))].filter((t) => !state.asked.has(t));
    await Promise.all(types.map(async (type) => {
      state.asked.add(type);
      try {
        learn((await get(`${API}/values/complete?${new URLSearchParams({ type, q: "", count: "100" })}`)).values);
      } catch (err) {
        state.asked.delete(type);
      }
    }));
    await Promise.all(missing().map(async (key) => {
      state.asked.add(key);
      const [type, canonical] = key.split("\u0000");
      try {
        learn((await get(`${API}/values/complete?${new URLSearchParams({ type, q: canonical, count: "20" })}`)).values);
      } catch (err) {
        state.asked.delete(key); // asked again next time; meanwhile the canonical value shows
      }
    }));
  }

  function wireCompletion(input, typeSelect) {
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => complete(typeSelect.value, input.value), 150);
    });
    input.addEventListener("focus", () => complete(typeSelect.value, input.value));
  }

  function label(type, value) {
    return `${type}${value ? ` = ${value}` : ""}`;
  }

  async function whoAmI() {
    try {
      const info = await get(`${API}/info`);
      state.localUser = info.annotator ? info.annotator.local_user : null;
      $("identity").textContent = state.localUser
        ? `annotating as ${state.localUser} (this machine)`
        : "sign in to annotate (Logo view)";
      if (state.localUser && $("sign-in-note")) $("sign-in-note").textContent = `: optional, this machine writes as ${state.localUser}`;
      $("standin-banner").hidden = !info.standin_models;
    } catch (err) {
      toast(`Could not read the service facts: ${err.message}`, true);
    }
  }

  $("toast-undo").addEventListener("click", () => undo());
  window.addEventListener("error", (event) => toast(`The page failed: ${event.message}`, true));
  window.addEventListener("unhandledrejection", (event) => toast(`The page failed: ${event.reason}`, true));
  const ready = whoAmI();

  return { API, $, state, get, write, toast, undo, card, fillTypes, valueTag, shown, spell, complete, wireCompletion, label, ready };
})();
