// Annotate from the grid, as the annotation game does: in selection mode, click the neighbours
// that are the same logo as the one opened, give a type and a value, send. Shows the opened logo's predicted
// label and its history. Writes are signed: Open Food Facts user name and password (checked by
// the server against Open Food Facts) or a service token, kept for this tab only; on the server's own
// machine (logo-ann serve on loopback, no token) nothing is needed: it records the local user.
"use strict";

(() => {
  const API = "/api/v1";
  const $ = (id) => document.getElementById(id);
  let current = null;

  function say(text, isError = false) {
    $("annotate-status").textContent = text;
    $("annotate-status").classList.toggle("error", isError);
  }

  async function call(url, options) {
    const response = await fetch(url, options);
    const text = await response.text();
    const body = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error(body && body.error ? body.error : `HTTP ${response.status}`);
    return body;
  }

  // in selection mode a click on a crop ticks it (as in the game) instead of opening it
  function pick(event) {
    if (!$("select-mode").checked) return;
    const card = event.target.closest(".card");
    if (!card) return;
    event.stopPropagation();
    event.preventDefault();
    card.classList.toggle("picked");
    card.setAttribute("aria-pressed", String(card.classList.contains("picked")));
  }

  function untick() {
    for (const card of document.querySelectorAll("#grid .card.picked")) {
      card.classList.remove("picked");
      card.setAttribute("aria-pressed", "false");
    }
  }

  function selectedIds() {
    const ids = [...document.querySelectorAll("#grid .card.picked")].map((card) => Number(card.dataset.logoId));
    if ($("include-query").checked && current !== null) ids.unshift(current);
    return [...new Set(ids)];
  }

  function row(list, text) {
    const item = document.createElement("li");
    item.textContent = text;
    list.append(item);
  }

  function describe(state) {
    return state ? `${state.type}${state.value ? ` = ${state.value}` : ""}` : "none";
  }

  // the product on Open Food Facts, when the photo's name gave its barcode
  function product(barcode) {
    const cell = $("product");
    if (!barcode) {
      cell.textContent = "barcode unknown";
      return;
    }
    const link = document.createElement("a");
    link.href = `https://world.openfoodfacts.org/product/${encodeURIComponent(barcode)}`;
    link.textContent = `${barcode} on Open Food Facts`;
    link.target = "_blank";
    link.rel = "noopener";
    cell.replaceChildren(link);
  }

  async function refresh() {
    if (current === null) return;
    const logoId = current;
    try {
      const [logo, history] = await Promise.all([
        call(`${API}/images/logos/${logoId}`),
        call(`${API}/images/logos/${logoId}/history`),
      ]);
      if (logo.prediction) await window.ui.spell([[logo.prediction.type, logo.prediction.value]]);
      if (logoId !== current) return;
      $("label-now").textContent = logo.annotation_type
        ? `${logo.annotation_type}${logo.annotation_value ? ` = ${logo.annotation_value}` : ""} (by ${logo.username})`
        : "not annotated";
      const p = logo.prediction;
      $("prediction").textContent = p
        ? `${window.ui.label(p.type, window.ui.shown(p.type, p.value))}, confidence ${p.confidence.toFixed(2)}` +
          (p.precision ? `, expected precision ${p.precision.toFixed(2)}` : ", precision: not enough samples yet") +
          ` (${p.votes.support} for, ${p.votes.against} against, ${p.votes.abstained} unannotated)`
        : "none";
      product(logo.barcode);
      $("label-reset").hidden = !logo.annotation_type;
      $("prediction-accept").hidden = !p;
      const list = $("history");
      list.replaceChildren();
      for (const e of [...history.history].reverse()) row(list, `${e.changed_at}: ${e.username} ${e.action}: ${describe(e.before)} → ${describe(e.after)}`);
      if (!history.history.length) row(list, "no change yet");
      $("annotate").hidden = false;
    } catch (err) {
      say(`Could not read logo ${logoId}: ${err.message}`, true);
    }
  }

  // after a write: the details, the neighbours' badges and this panel all show the new state
  async function reload() {
    if (window.logoAnn && current !== null) await window.logoAnn.openLogo(current, false);
    await refresh();
  }

  async function send(event) {
    event.preventDefault();
    const ids = selectedIds();
    if (!ids.length) return say("Tick at least one logo.", true);
    const annotations = ids.map((id) => ({ logo_id: id, type: $("label-type").value, value: $("label-value").value }));
    try {
      const { body, operation } = await window.ui.write(`${API}/images/logos/annotate`, "POST", { annotations });
      const text = `${body.annotated} of ${ids.length} logos annotated (those already annotated are kept).`;
      say(text);
      window.ui.toast(`${text} Undo: the button or u.`, false, operation);
      untick();
      await reload();
    } catch (err) {
      say(`Annotation refused: ${err.message}`, true);
      window.ui.toast(`Annotation refused: ${err.message}`, true);
    }
  }

  // change the opened logo's own label (a PUT), remove it, or accept its prediction: each undoable
  async function change(what) {
    if (current === null) return;
    const logoId = current;
    try {
      let result;
      if (what === "reset") result = await window.ui.write(`${API}/images/logos/${logoId}/reset`, "POST");
      else if (what === "accept") result = await window.ui.write(`${API}/images/logos/${logoId}/prediction/accept`, "POST");
      else result = await window.ui.write(`${API}/images/logos/${logoId}`, "PUT", { type: $("label-type").value, value: $("label-value").value });
      const done = { reset: "label removed", accept: "prediction accepted", set: `label set to ${window.ui.label($("label-type").value, $("label-value").value)}` }[what];
      say(`Logo ${logoId}: ${done}.`);
      window.ui.toast(`Logo ${logoId}: ${done}. Undo: the button or u.`, false, result.operation);
      await reload();
    } catch (err) {
      say(`Refused: ${err.message}`, true);
      window.ui.toast(`Refused: ${err.message}`, true);
    }
  }

  function start() {
    $("grid").addEventListener("click", pick, true);
    new MutationObserver(() => {
      const id = Number($("query-id").textContent);
      if (Number.isInteger(id) && id > 0 && id !== current) {
        current = id;
        say("");
        refresh();
      }
    }).observe($("query-id"), { childList: true, characterData: true, subtree: true });
    $("annotate-form").addEventListener("submit", send);
    $("select-all").addEventListener("click", () => {
      $("select-mode").checked = true;
      const ticked = [...document.querySelectorAll("#grid .card:not(.picked)")];
      ticked.forEach((card) => { card.classList.add("picked"); card.setAttribute("aria-pressed", "true"); });
      say(`${ticked.length} crops ticked; Untick all undoes it.`);
      $("untick-all").hidden = false;
    });
    $("untick-all").addEventListener("click", () => {
      untick();
      say("Every crop unticked.");
      $("untick-all").hidden = true;
    });
    $("label-set").addEventListener("click", () => change("set"));
    $("label-reset").addEventListener("click", () => change("reset"));
    $("prediction-accept").addEventListener("click", () => change("accept"));
    window.addEventListener("logo-ann:changed", () => { if (!$("view-logo").hidden) reload(); });
  }

  start();
})();
