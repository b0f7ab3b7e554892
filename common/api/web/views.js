// The annotation views, each at its own address (#/quests, #/next, #/suspects, #/value/TYPE/VALUE,
// #/history, #/logo/ID) so a link can be shared, and the keyboard shortcuts. Plain DOM.
"use strict";

(() => {
  const { API, $, get, write, toast, undo, card, fillTypes, wireCompletion, label, shown, spell } = window.ui;
  const VIEWS = ["quests", "next", "suspects", "value", "history", "logo"];
  const quest = { cluster: null, cursor: null, opening: 0 };
  const { value, openValue, moreCluster, moreValues, labelValue, openHistory } = window.lists;

  function route(initial) {
    const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
    const view = VIEWS.includes(parts[0]) ? parts[0] : "logo";
    for (const name of VIEWS) {
      const section = name === "logo" ? $("view-logo") : $(`view-${name}`);
      section.hidden = name !== view;
    }
    $("view-others").hidden = view === "logo";
    $("status").hidden = view !== "logo"; // the logo view's own line
    for (const link of document.querySelectorAll("#views-nav a")) {
      if (link.dataset.view === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (view === "quests") openQuest(parts[1] ? Number(parts[1]) : null);
    else if (view === "next") openNext();
    else if (view === "suspects") openSuspects();
    else if (view === "value") openValue(parts[1], parts.slice(2).join("/"));
    else if (view === "history") openHistory(false);
    else if (initial !== true && window.logoAnn) {
      const id = parts[1] ? Number(parts[1]) : window.logoAnn.current();
      if (id) window.logoAnn.openLogo(id, false);
      else window.logoAnn.openRandom();
    }
  }

  // --- quests: a cluster of unlabelled look-alikes; exclude the odd ones, label the rest ---------
  async function openQuest(clusterId) {
    $("quest-grid").replaceChildren(); // never a stale crop to click while the next quest loads
    quest.cluster = null;
    // the last opening wins: one still waiting for its cluster (opened by a label, an undo or a key
    // pressed meanwhile) must not empty or fill the grid the later one shows
    const opening = ++quest.opening;
    $("quest-grid").setAttribute("aria-busy", "true");
    try {
      let found = null;
      let next = quest.next;
      if (clusterId) found = await get(`${API}/clusters/${clusterId}`);
      else {
        const params = new URLSearchParams({ annotated: "false", count: "1" });
        if (quest.cursor) params.set("cursor", quest.cursor);
        const page = await get(`${API}/clusters?${params}`);
        found = page.clusters[0] || null;
        next = page.next_cursor;
      }
      if (opening !== quest.opening) return;
      quest.next = next;
      quest.cluster = found;
      $("quest-grid").replaceChildren();
      if (!found) {
        $("quest-title").textContent = "— none left: every group of look-alikes is labelled (try Next or Suspects)";
        return;
      }
      $("quest-title").textContent = `${found.id}: ${found.size} look-alike logos`;
      const exclude = (el) => {
        el.classList.toggle("excluded");
        el.setAttribute("aria-pressed", String(el.classList.contains("excluded")));
      };
      for (const id of found.logo_ids) {
        const el = card(id, "", exclude);
        el.setAttribute("aria-pressed", "false");
        $("quest-grid").append(el);
      }
    } catch (err) {
      if (opening === quest.opening) toast(`Could not open the quest: ${err.message}`, true);
    } finally {
      if (opening === quest.opening) {
        $("quest-grid").removeAttribute("aria-busy");
        $("quest-grid").dataset.opened = String(opening); // which opening the grid shows (tests wait on it)
      }
    }
  }

  async function labelQuest() {
    const found = quest.cluster;
    if (!found) return;
    const excluded = [...document.querySelectorAll("#quest-grid .card.excluded")].map((el) => Number(el.dataset.logoId));
    const kind = $("quest-type").value;
    const name = $("quest-value").value.trim();
    try {
      const { body, operation } = await write(`${API}/clusters/${found.id}/annotate`, "POST", {
        type: kind, value: name, exclude: excluded, logo_ids: found.logo_ids,
      });
      toast(`Labelled ${body.annotated} logos ${label(kind, name)} (${excluded.length} excluded). Undo: the button or u.`, false, operation);
      quest.cursor = null;
      if (location.hash === "#/quests") openQuest(null);
      else location.hash = "#/quests";
    } catch (err) {
      toast(`Could not label the quest: ${err.message}`, true);
    }
  }

  function nextQuest() {
    quest.cursor = quest.next || null;
    if (location.hash === "#/quests") openQuest(null);
    else location.hash = "#/quests";
  }

  // --- next: the queue from annotate/next ---------------------------------------------------------
  async function openNext() {
    try {
      const body = await get(`${API}/annotate/next?count=12`);
      await spell(body.logos.map((s) => [s.type, s.value]));
      const rows = body.logos.map((s) => {
        const item = document.createElement("li");
        const go = () => { location.hash = s.cluster_id ? `#/quests/${s.cluster_id}` : `#/logo/${s.logo_id}`; };
        const why = s.reason === "cluster" ? `labels a group of ${s.gain}` : `a prediction near the threshold (${s.gain} logos)`;
        const text = document.createElement("span");
        text.textContent = `${why}${s.value ? `; neighbours say ${label(s.type, shown(s.type, s.value))}` : ""}`;
        item.append(card(s.logo_id, "", go), text);
        return item;
      });
      $("next-list").replaceChildren(...rows);
      if (!rows.length) $("next-list").textContent = "Nothing left to suggest: every logo is labelled or predicted.";
    } catch (err) {
      toast(`Could not read what to annotate next: ${err.message}`, true);
    }
  }

  // --- suspects: fix (take the neighbours' label) or keep in one click ----------------------------
  function kept() {
    return new Set(JSON.parse(localStorage.getItem("logo-ann-kept") || "[]"));
  }

  // keep (hide from the list in this browser) or, to undo it, list again
  function setKept(logoId, hide) {
    const all = kept();
    if (hide) all.add(logoId);
    else all.delete(logoId);
    localStorage.setItem("logo-ann-kept", JSON.stringify([...all]));
  }

  async function openSuspects() {
    try {
      const body = await get(`${API}/images/logos/suspects?count=24`);
      await spell(body.logos.flatMap((s) => [[s.neighbours_say.type, s.neighbours_say.value], [s.annotation.type, s.annotation.value]]));
      const keep = kept();
      const rows = body.logos.filter((s) => !keep.has(s.logo_id)).map((s) => {
        const item = document.createElement("li");
        item.dataset.logoId = String(s.logo_id);
        const own = label(s.annotation.type, s.annotation.annotation_value || shown(s.annotation.type, s.annotation.value));
        const say = label(s.neighbours_say.type, shown(s.neighbours_say.type, s.neighbours_say.value));
        const text = document.createElement("span");
        text.textContent = `annotated ${own}; neighbours say ${say} (confidence ${s.neighbours_say.confidence.toFixed(2)})`;
        const fix = document.createElement("button");
        fix.type = "button";
        fix.className = "fix";
        fix.textContent = `Fix: ${say}`;
        fix.addEventListener("click", async () => {
          try {
            const { operation } = await write(`${API}/images/logos/${s.logo_id}`, "PUT", {
              type: s.neighbours_say.type, value: shown(s.neighbours_say.type, s.neighbours_say.value),
            });
            item.remove();
            toast(`Logo ${s.logo_id} fixed: ${own} → ${say}. Undo: the button or u.`, false, operation);
          } catch (err) {
            toast(`Could not fix logo ${s.logo_id}: ${err.message}`, true);
          }
        });
        const keepButton = document.createElement("button");
        keepButton.type = "button";
        keepButton.className = "keep";
        keepButton.textContent = `Keep: ${own}`;
        keepButton.addEventListener("click", () => {
          setKept(s.logo_id, true);
          item.remove();
          toast(`Logo ${s.logo_id} kept as ${own} (hidden from this list in this browser). Undo: the button or u.`, false, () => {
            setKept(s.logo_id, false);
            toast(`Logo ${s.logo_id} is a suspect again.`);
            if (location.hash === "#/suspects") openSuspects();
          });
        });
        item.append(card(s.logo_id, "", () => { location.hash = `#/logo/${s.logo_id}`; }), text, fix, keepButton);
        return item;
      });
      $("suspect-list").replaceChildren(...rows);
      if (!rows.length) $("suspect-list").textContent = "No suspect: every annotation agrees with its close neighbours.";
    } catch (err) {
      toast(`Could not read the suspects: ${err.message}`, true);
    }
  }

  // --- keys -----------------------------------------------------------------------------------------
  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA");
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const view = location.hash.replace(/^#\/?/, "").split("/")[0] || "logo";
    const key = event.key;
    if (/^[1-6]$/.test(key)) {
      const target = `#/${VIEWS[Number(key) - 1]}`;
      if (location.hash === target) route();
      else location.hash = target;
    }
    else if (key === "u") undo();
    else if (key === "n" && view === "quests") nextQuest();
    else if (key === "n" && view === "logo" && window.logoAnn) window.logoAnn.openRandom();
    else if (key === "n" && view === "value" && value.cursor) moreCluster();
    else if (key === "x" && document.activeElement && document.activeElement.classList.contains("card")) document.activeElement.click();
    else if (key === "l" && view === "quests") labelQuest();
    else if (key === "l" && view === "value") labelValue();
    else if (key === "l" && view === "logo") $("annotate-button").click();
    else if (key === "/") {
      const input = [...document.querySelectorAll(".value-input")].find((el) => el.offsetParent !== null);
      if (input) input.focus();
    } else return;
    event.preventDefault();
  }

  function start() {
    for (const id of ["quest-type", "value-type"]) fillTypes($(id));
    wireCompletion($("quest-value"), $("quest-type"));
    wireCompletion($("value-name"), $("value-type"));
    wireCompletion($("label-value"), $("label-type"));
    $("quest-form").addEventListener("submit", (event) => { event.preventDefault(); labelQuest(); });
    $("quest-next").addEventListener("click", nextQuest);
    $("value-form").addEventListener("submit", (event) => {
      event.preventDefault();
      location.hash = `#/value/${encodeURIComponent($("value-type").value)}/${encodeURIComponent($("value-name").value.trim())}`;
    });
    $("value-more").addEventListener("click", moreCluster);
    $("value-table-more").addEventListener("click", moreValues);
    $("value-label").addEventListener("click", labelValue);
    $("ops-more").addEventListener("click", () => openHistory(true));
    document.addEventListener("keydown", onKey);
    window.addEventListener("hashchange", route);
    window.addEventListener("logo-ann:changed", () => { if (!$("view-others").hidden) route(); });
    window.ui.ready.then(() => route(true));
  }

  start();
})();
