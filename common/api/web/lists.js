// The value view (a value's references, its cluster with "load more", the progress per value) and
// the history view (every operation, newest first, each with undo); views.js routes to them.
"use strict";

window.lists = (() => {
  const { API, $, get, write, toast, undo, card, label, shown, spell, valueTag } = window.ui;
  const value = { type: "brand", name: "", cursor: null, tableCursor: null, progress: "" };
  let ops = null;

  // --- value: its references, its cluster (load more by cursor) and the progress per value --------
  async function openValue(kind, name) {
    value.type = kind || value.type;
    value.name = name || "";
    $("value-type").value = value.type;
    $("value-name").value = value.name;
    $("value-title").textContent = value.name ? label(value.type, value.name) : "";
    $("value-table").querySelector("tbody").replaceChildren();
    value.tableCursor = null;
    value.progress = "";
    $("value-progress").textContent = "";
    await moreValues();
    $("value-body").hidden = !value.name;
    if (!value.name) return;
    value.cursor = null;
    $("value-cluster").replaceChildren();
    try {
      const q = new URLSearchParams({ type: value.type, value: value.name, count: "12" });
      const refs = await get(`${API}/images/logos/search?${q}`);
      $("value-references").replaceChildren(...refs.logos.map((l) => card(l.id, "annotated", () => { location.hash = `#/logo/${l.id}`; })));
    } catch (err) {
      toast(`Could not read the reference logos: ${err.message}`, true);
    }
    await moreCluster();
  }

  async function moreCluster() {
    try {
      const q = new URLSearchParams({ type: value.type, value: value.name, count: "24" });
      if (value.cursor) q.set("cursor", value.cursor);
      const page = await get(`${API}/images/logos/value-cluster?${q}`);
      const pick = (el) => {
        el.classList.toggle("picked");
        el.setAttribute("aria-pressed", String(el.classList.contains("picked")));
      };
      for (const l of page.logos) $("value-cluster").append(card(l.id, `d = ${l.distance.toFixed(3)}`, pick));
      value.cursor = page.next_cursor;
      $("value-more").hidden = !value.cursor;
      const shownCount = $("value-cluster").children.length;
      $("value-progress").textContent = `${value.progress || "not annotated yet"} · cluster: ${shownCount} shown${value.cursor ? ", more below" : ", all shown"}`;
    } catch (err) {
      toast(`Could not read the value's cluster: ${err.message}`, true);
    }
  }

  async function moreValues() {
    try {
      const q = new URLSearchParams({ type: value.type, count: "50" });
      if (value.tableCursor) q.set("cursor", value.tableCursor);
      const page = await get(`${API}/values?${q}`);
      await spell(page.values.map((v) => [v.type, v.value]));
      const tag = valueTag(value.name);
      for (const v of page.values) {
        const row = document.createElement("tr");
        const link = document.createElement("a");
        const name = shown(v.type, v.value) || "(no value)";
        link.href = `#/value/${encodeURIComponent(v.type)}/${encodeURIComponent(name)}`;
        link.textContent = name;
        const cells = [link, v.annotated, v.accepted_predictions, v.candidates].map((c) => {
          const td = document.createElement("td");
          td.append(typeof c === "object" ? c : String(c));
          return td;
        });
        row.append(...cells);
        $("value-table").querySelector("tbody").append(row);
        if (tag && v.value === tag) {
          const done = v.candidates === 0 ? " — done: no candidate left" : "";
          value.progress = `${v.annotated} annotated, ${v.accepted_predictions} accepted predictions, ${v.candidates} candidates${done}`;
          $("value-progress").textContent = value.progress;
        }
      }
      value.tableCursor = page.next_cursor;
      $("value-table-more").hidden = !value.tableCursor;
    } catch (err) {
      toast(`Could not read the progress per value: ${err.message}`, true);
    }
  }

  async function labelValue() {
    const ids = [...document.querySelectorAll("#value-cluster .card.picked")].map((el) => Number(el.dataset.logoId));
    if (!ids.length) return toast("Select crops of the value's cluster first.", true);
    try {
      const annotations = ids.map((id) => ({ logo_id: id, type: value.type, value: value.name }));
      const { body, operation } = await write(`${API}/images/logos/annotate`, "POST", { annotations });
      for (const el of document.querySelectorAll("#value-cluster .card.picked")) el.remove();
      toast(`Labelled ${body.annotated} logos ${label(value.type, value.name)}. Undo: the button or u.`, false, operation);
    } catch (err) {
      toast(`Could not label: ${err.message}`, true);
    }
  }

  // --- history: every operation, newest first, each with undo --------------------------------------
  async function openHistory(more) {
    try {
      const q = new URLSearchParams({ count: "20" });
      if (more && ops) q.set("cursor", ops);
      const page = await get(`${API}/annotations/operations?${q}`);
      if (!more) $("ops-list").replaceChildren();
      for (const op of page.operations) {
        const item = document.createElement("li");
        item.dataset.operationId = String(op.id);
        const what = op.action === "revert" ? `undo of operation ${op.params.operation_id}` : op.action.replaceAll("_", " ");
        const text = document.createElement("span");
        text.textContent = `#${op.id} ${what} by ${op.username}, ${op.created_at}: ${op.changed} logos`;
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = `Undo #${op.id}`;
        button.addEventListener("click", () => undo(op.id, () => openHistory(false)));
        const crops = document.createElement("div");
        crops.className = "mini";
        crops.append(...op.logo_ids.slice(0, 6).map((id) => card(id, "", () => { location.hash = `#/logo/${id}`; })));
        item.append(text, button, crops);
        $("ops-list").append(item);
      }
      ops = page.next_cursor;
      $("ops-more").hidden = !ops;
      if (!$("ops-list").children.length) $("ops-list").textContent = "No operation yet: label a quest to start.";
    } catch (err) {
      toast(`Could not read the history: ${err.message}`, true);
    }
  }

  return { value, openValue, moreCluster, moreValues, labelValue, openHistory };
})();
