"""The annotation tool as a person uses it, in real headless Chromium against ``logo-ann serve``'s
own wiring (waitress on 127.0.0.1, no token: the page writes as the local user, no sign-in):
walk a value's cluster with "load more", label a quest (exclude two, label the rest), undo it,
use the shortcuts, keep a suspect and undo that, fix it, undo from the history; a card whose crop
has not come cannot be chosen; every view at 1,280 and 390 px wide, every control with an
accessible name, errors on the page.

Screenshots of each view land in tests/artifacts/screens; ``LOGO_ANN_UPDATE_SCREENS=1`` writes
them to docs/screens as well (the pictures of docs/web.md).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from common.cli.serve import listen
from common.domain import StoredObject
from tests.api_support import api_container, ingest, two_squares
from tests.integration.test_web_page import ARTIFACTS

pytestmark = pytest.mark.browser

RED, BLUE, GREEN = (230, 20, 20), (20, 20, 230), (20, 200, 20)
ME = f"local:{getpass.getuser()}"
SCREENS = ARTIFACTS / "screens"
DOCS_SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
# every control without a name: its accessible name from aria-label, its text, its <label>, or alt
UNNAMED = """() => [...document.querySelectorAll('button, input, select, a, [role=button]')]
  .filter(el => el.offsetParent !== null)
  .filter(el => !((el.getAttribute('aria-label') || '').trim() || (el.labels && el.labels.length)
      || (el.textContent || '').trim() || (el.querySelector('img[alt]') || {}).alt || el.title))
  .map(el => el.outerHTML.slice(0, 80))"""
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
OPTIONS = "() => [...document.querySelectorAll('#value-options option')].map(o => o.value + ' | ' + o.label)"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = Path(tmp_path_factory.mktemp("tool"))
    taxonomy = home / "labels.json"  # the label type's taxonomy, for the value field's completions
    taxonomy.write_text(json.dumps({"en:organic": {"name": {"en": "Organic"}}, "en:eu-organic": {}, "en:fair": {}}))
    container = api_container(home, taxonomy_labels=str(taxonomy))
    ingest(container, [(GREEN, GREEN)] * 14)  # logos 1..28: one look-alike group
    ingest(container, [(BLUE, BLUE)] * 3, first=14)  # logos 29..34
    # 35 red, 36 green, in a photo named as Open Food Facts names product photos (a barcode)
    ref = container.images.put(container.settings.bucket, "324/227/210/2359/4.jpg", two_squares(RED, GREEN))
    container.detect(StoredObject(ref, None, "image/png"))
    seeds = [(1, "brand", "Green Leaf")] + [(i, "brand", "Blue Star") for i in range(29, 34)] + [(34, "brand", "Wrong")]
    container.annotator().annotate(seeds, "seed")
    server, local = listen(container, "127.0.0.1", 0)
    assert local is not None and local.name == ME  # what `logo-ann serve` grants on loopback
    thread = threading.Thread(target=server.run, name="web-tool-server", daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.effective_port}"}
    server.close()
    thread.join(timeout=10)


def api(world: dict[str, Any], path: str) -> Any:
    with urllib.request.urlopen(world["url"] + path, timeout=10) as response:
        return json.load(response)


def labels(world: dict[str, Any], ids: list[int]) -> dict[int, tuple[Any, Any]]:
    query = "&".join(f"logo_ids={i}" for i in ids)
    found = api(world, f"/api/v1/images/logos?{query}")["logos"]
    return {x["id"]: (x["annotation_value"], x["username"]) for x in found}


@pytest.fixture
def tool(browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(90_000)  # a wait, not a speed check: the machine may be busy
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"


def toast(page: Any, starts: str) -> str:
    try:
        page.wait_for_function(
            "s => document.getElementById('toast-text').textContent.startsWith(s)", arg=starts, timeout=20_000
        )
    except PlaywrightTimeout:
        raise AssertionError(f"toast {page.text_content('#toast-text')!r}, waited for {starts!r}") from None
    text: str = page.text_content("#toast-text")
    return text


def quest_count(page: Any) -> int:
    """How many times the quest grid has been opened and shown (``data-opened``)."""
    return int(page.get_attribute("#quest-grid", "data-opened") or 0)


def quest_opened(page: Any, before: int) -> list[int]:
    """The logo ids of the quest shown by an opening after ``before``, once its crops are in (a key
    press opens the view on the next event: the grid of an earlier opening may still be there)."""
    page.wait_for_function(
        """k => { const grid = document.getElementById('quest-grid');
                  return Number(grid.dataset.opened || 0) > k && !grid.hasAttribute('aria-busy')
                    && grid.querySelectorAll('.card:not([disabled])').length >= 10; }""",
        arg=before,
    )
    ids: list[int] = page.eval_on_selector_all("#quest-grid .card", "cs => cs.map(c => Number(c.dataset.logoId))")
    return ids


def shoot(page: Any, name: str) -> None:
    page.wait_for_function("() => [...document.querySelectorAll('img')].every(i => i.complete || !i.offsetParent)")
    page.evaluate("() => window.scrollTo(0, 0)")
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"))
    if os.environ.get("LOGO_ANN_UPDATE_SCREENS") == "1":
        DOCS_SCREENS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENS / f"{name}.png", DOCS_SCREENS / f"{name}.png")


def check_layout(page: Any, name: str) -> None:
    assert page.evaluate(UNNAMED) == [], f"{name}: controls without an accessible name"
    assert page.evaluate(OVERFLOW) <= 0, f"{name}: the page scrolls sideways"


def test_value_view_walks_the_cluster_with_load_more(tool: Any, world: dict[str, Any]) -> None:
    tool.goto(f"{world['url']}/#/value/brand/Green%20Leaf")
    tool.wait_for_selector("#value-references .card[data-logo-id='1']")
    tool.wait_for_function("() => document.querySelectorAll('#value-cluster .card').length === 24")
    assert tool.is_visible("#value-more")
    assert tool.text_content("#value-progress").startswith("1 annotated, 0 accepted predictions")
    tool.click("#value-more")
    # every unlabelled logo by distance: the 27 other green logos of 1..28 and 36, then the red 35
    tool.wait_for_function("() => document.querySelectorAll('#value-cluster .card').length === 29")
    assert tool.is_hidden("#value-more")
    ids = tool.eval_on_selector_all("#value-cluster .card", "cs => cs.map(c => Number(c.dataset.logoId))")
    assert sorted(ids[:28]) == [*range(2, 29), 36] and ids[28] == 35
    assert tool.text_content("#value-progress").endswith("cluster: 29 shown, all shown")
    shoot(tool, "value")
    check_layout(tool, "value")

    tool.reload()  # again, with the key: n loads more
    tool.wait_for_function("() => document.querySelectorAll('#value-cluster .card').length === 24")
    tool.keyboard.press("n")
    tool.wait_for_function("() => document.querySelectorAll('#value-cluster .card').length === 29")


def test_a_quest_excluding_two_then_undo_then_the_shortcuts(tool: Any, world: dict[str, Any]) -> None:
    tool.goto(f"{world['url']}/")
    tool.click("#views-nav a[data-view='quests']")  # reachable from the first screen
    assert tool.url.endswith("#/quests")
    members = quest_opened(tool, 0)
    assert tool.text_content("#identity") == f"annotating as {ME} (this machine)"
    assert set(members) <= set(range(2, 29)) | {36} and len(members) >= 10
    excluded = members[:2]
    for logo_id in excluded:
        tool.click(f"#quest-grid .card[data-logo-id='{logo_id}']")
    assert tool.eval_on_selector_all("#quest-grid .card.excluded", "cs => cs.length") == 2
    tool.fill("#quest-value", "Green Leaf")
    shoot(tool, "quests")
    check_layout(tool, "quests")
    tool.click("#quest-label")
    done = toast(tool, f"Labelled {len(members) - 2} logos brand = Green Leaf (2 excluded)")
    assert "Undo" in done and tool.is_visible("#toast-undo")
    now = labels(world, members)
    assert all(now[i] == (None, None) for i in excluded)
    assert all(now[i] == ("Green Leaf", ME) for i in members[2:])

    tool.click("#toast-undo")
    toast(tool, "Undid operation")
    assert all(v == (None, None) for v in labels(world, members).values())

    # the same with the keys only: 1 opens quests, x excludes the focused crop, l labels, u undoes
    tool.keyboard.press("2")
    tool.wait_for_selector("#view-next:not([hidden])")
    opened = quest_count(tool)
    tool.keyboard.press("1")
    members = quest_opened(tool, opened)
    tool.focus("#quest-grid .card >> nth=0")
    tool.keyboard.press("x")
    assert tool.eval_on_selector_all("#quest-grid .card.excluded", "cs => cs.length") == 1
    tool.keyboard.press("/")
    assert tool.evaluate("() => document.activeElement.id") == "quest-value"
    assert tool.input_value("#quest-value") == "Green Leaf"  # the value stays for the next quest
    tool.focus("#quest-grid .card >> nth=1")
    tool.keyboard.press("l")
    toast(tool, f"Labelled {len(members) - 1} logos brand = Green Leaf (1 excluded)")
    now = labels(world, members)
    assert now[members[0]] == (None, None) and all(now[i] == ("Green Leaf", ME) for i in members[1:])
    tool.keyboard.press("u")
    toast(tool, "Undid operation")
    assert all(v == (None, None) for v in labels(world, members).values())
    assert "u" in tool.text_content("#keys") and "undo" in tool.text_content("#keys")

    # n: the next quest, another group of look-alikes (the page asks for the page after this one);
    # first the reopening the undo started (busy since the toast showed) must be over
    tool.wait_for_function("() => !document.getElementById('quest-grid').hasAttribute('aria-busy')")
    opened = quest_count(tool)
    tool.keyboard.press("n")
    following = quest_opened(tool, opened)
    assert not set(following) & set(members)
    assert "next" in tool.text_content("#keys")


def test_fix_a_suspect_next_and_history_with_undo(tool: Any, world: dict[str, Any]) -> None:
    tool.goto(f"{world['url']}/#/suspects")
    row = "#suspect-list li[data-logo-id='34']"
    tool.wait_for_selector(row)
    assert "annotated brand = Wrong; neighbours say brand = Blue Star" in tool.text_content(row)
    shoot(tool, "suspects")
    check_layout(tool, "suspects")
    tool.click(f"{row} button.keep")  # kept: off the list, and the toast says how to undo it
    assert "Undo" in toast(tool, "Logo 34 kept as brand = Wrong")
    tool.wait_for_selector(row, state="detached")
    tool.keyboard.press("u")
    toast(tool, "Logo 34 is a suspect again")
    tool.wait_for_selector(row)
    tool.click(f"{row} button.fix")
    toast(tool, "Logo 34 fixed: brand = Wrong → brand = Blue Star")
    assert labels(world, [34])[34] == ("Blue Star", ME)
    tool.wait_for_selector(row, state="detached")

    tool.click("#views-nav a[data-view='next']")
    tool.wait_for_selector("#next-list li .card:not([disabled])")
    shoot(tool, "next")
    check_layout(tool, "next")
    tool.click("#next-list li .card >> nth=0")
    tool.wait_for_function("() => location.hash.startsWith('#/quests/') || location.hash.startsWith('#/logo/')")

    tool.click("#views-nav a[data-view='history']")
    first = "#ops-list li:first-child"
    tool.wait_for_selector(first)
    assert "update by " + ME in tool.text_content(first)  # the fix, newest first
    shoot(tool, "history")
    check_layout(tool, "history")
    tool.click(f"{first} button")
    toast(tool, "Undid operation")
    assert labels(world, [34])[34] == ("Wrong", "seed")
    tool.wait_for_function("() => document.querySelector('#ops-list li').textContent.includes('undo of operation')")


def test_logo_view_grid_on_the_first_screen_with_badges(tool: Any, world: dict[str, Any]) -> None:
    tool.goto(f"{world['url']}/#/logo/2")
    tool.wait_for_selector("#grid .card .badge.annotated")
    shoot(tool, "logo")
    top = tool.eval_on_selector("#grid .card", "c => c.getBoundingClientRect().top")
    assert top < 900 * 0.6, "the neighbours' grid starts on the first screen"
    badge = tool.text_content("#grid .card[data-logo-id='1'] .badge")
    assert badge == "✓ Green Leaf"
    predicted = tool.eval_on_selector_all("#grid .badge.predicted", "bs => bs.map(b => b.textContent)")
    # a predicted neighbour: ~, the value as typed (not its tag, green-leaf) and the confidence
    assert predicted and all(re.fullmatch(r"~ Green Leaf 0\.\d\d", p) for p in predicted), predicted
    assert tool.text_content("#annotate-status") == ""
    tool.click("#select-all")  # Tick all says what it did and how to undo it
    assert tool.text_content("#annotate-status").endswith("crops ticked; Untick all undoes it.")
    assert tool.eval_on_selector_all("#grid .card.picked", "cs => cs.length") > 0
    tool.click("#untick-all")
    assert tool.eval_on_selector_all("#grid .card.picked", "cs => cs.length") == 0 and tool.is_hidden("#untick-all")
    tool.uncheck("#select-mode")
    tool.fill("#label-value", "Green Leaf")
    tool.click("#label-set")
    toast(tool, "Logo 2: label set to brand = Green Leaf")
    tool.wait_for_function("() => document.getElementById('query-details').textContent.includes('Green Leaf')")
    mine = f"brand = Green Leaf (by {ME})"
    tool.wait_for_function("s => document.getElementById('label-now').textContent === s", arg=mine)
    tool.click("#label-reset")  # the label removed, and that undone: the label is back
    toast(tool, "Logo 2: label removed")
    tool.wait_for_function("() => document.getElementById('label-now').textContent === 'not annotated'")
    assert labels(world, [2])[2] == (None, None)
    tool.click("#toast-undo")
    toast(tool, "Undid operation")
    tool.wait_for_function("s => document.getElementById('label-now').textContent === s", arg=mine)
    tool.click("#toast-undo")  # the undo undone: the label removed again
    toast(tool, "Undid operation")
    tool.wait_for_function("() => document.getElementById('label-now').textContent === 'not annotated'")
    assert labels(world, [2])[2] == (None, None)
    shoot(tool, "logo")
    check_layout(tool, "logo")

    tool.goto(f"{world['url']}/#/logo/35")
    product = "#product a"
    tool.wait_for_selector(product)
    assert tool.get_attribute(product, "href") == "https://world.openfoodfacts.org/product/3242272102359"

    tool.goto(f"{world['url']}/#/quests/999999")
    toast(tool, "Could not open the quest: cluster 999999 does not exist")  # an error on the page
    assert tool.eval_on_selector("#toast", "t => t.classList.contains('error')")


def test_the_value_field_completes_from_values_used_and_the_taxonomy(tool: Any, world: dict[str, Any]) -> None:
    def completes(typed: str, expected: list[str]) -> None:
        tool.fill("#quest-value", typed)
        try:
            same = f"e => JSON.stringify(({OPTIONS})()) === JSON.stringify(e)"
            tool.wait_for_function(same, arg=expected, timeout=20_000)
        except PlaywrightTimeout:
            raise AssertionError(f"{typed!r} completes to {tool.evaluate(OPTIONS)}, not {expected}") from None

    tool.goto(f"{world['url']}/#/quests")
    completes("gre", ["Green Leaf | Green Leaf (1 logos)"])  # a value already used, and on how many logos
    tool.select_option("#quest-type", "label")
    # the label taxonomy's ids: those starting with it, then those containing it
    completes("org", ["en:organic | en:organic (taxonomy)", "en:eu-organic | en:eu-organic (taxonomy)"])


def test_a_crop_card_is_chosen_only_once_its_crop_shows(tool: Any, world: dict[str, Any]) -> None:
    held: list[Any] = []  # the first crop asked for, answered only when the test says so

    def hold_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    tool.route("**/api/v1/logos/*/crop", hold_first)
    tool.goto(f"{world['url']}/#/quests")
    tool.wait_for_function(
        """() => { const cards = [...document.querySelectorAll('#quest-grid .card')];
                   return cards.length >= 10 && cards.filter(c => !c.disabled).length === cards.length - 1; }"""
    )
    late = "#quest-grid .card[disabled]"
    late_id = tool.get_attribute(late, "data-logo-id")
    assert held and held[0].request.url.endswith(f"/logos/{late_id}/crop")
    tool.click(late, force=True)  # a click on a card whose crop has not come: nothing happens
    tool.keyboard.press("x")
    assert tool.eval_on_selector_all("#quest-grid .card.excluded", "cs => cs.length") == 0
    held[0].continue_()
    tool.wait_for_selector(f"#quest-grid .card[data-logo-id='{late_id}']:not([disabled])")
    tool.click(f"#quest-grid .card[data-logo-id='{late_id}']")
    assert tool.eval_on_selector_all("#quest-grid .card.excluded", "cs => cs.length") == 1


@pytest.mark.parametrize("view", ["quests", "value/brand/Green%20Leaf", "suspects", "next", "history", "logo/2"])
def test_every_view_at_390_px(browser: Any, world: dict[str, Any], view: str) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(90_000)
    try:
        page.goto(f"{world['url']}/#/{view}")
        page.wait_for_selector("#view-logo .card, #view-others .card, #toast:not([hidden])")
        check_layout(page, f"{view} at 390 px")
        assert page.is_visible("#views-nav")
        if view == "quests":
            shoot(page, "quests-390")
    finally:
        page.close()
