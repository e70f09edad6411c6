"""The page in a real headless Chromium: type a description, generate, see the 3D view animate, download the BVH,
and see a bad input reported on the page."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium chromium-driver)", allow_module_level=True)
pytest.importorskip("fastapi", reason="the web app needs the `app` extra: pip install 'motiongpt[app]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip install "
                                                              "playwright; its own browser download is not used)")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=ARGS, accept_downloads=True, viewport={"width": 1100, "height": 760})
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_generate_view_animates_and_bvh_downloads(page, live_server, tmp_path):
    remote, errors = [], []
    page.on("request", lambda r: None if r.url.startswith(live_server) else remote.append(r.url))
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(live_server)
    page.wait_for_selector("#examples button")  # examples came from /api/info
    page.fill("#text", "a person walks forward and waves the right hand.")
    page.click("#controls summary")
    page.fill("#key_tokens", "5,17,42,99,120,200,7,61")  # at least 8 codes: 32 frames to play
    page.fill("#seed", "3")
    page.click("#generate")
    card = page.wait_for_selector(".result", timeout=30_000)
    assert "Generated 1 motion" in page.inner_text("#message")
    assert card.query_selector(".caption").inner_text() == "a person walks forward and waves the right hand."

    canvas = card.query_selector("canvas")
    shots = [canvas.screenshot()]
    for _ in range(5):
        page.wait_for_timeout(130)  # more than two frames at 20 fps
        shots.append(canvas.screenshot())
    assert len(set(shots)) > 1, "the 3D view did not change while playing"
    frame_label = card.query_selector(".frame")

    card.query_selector(".play").click()  # pause: the view stays still
    paused = frame_label.inner_text()
    page.wait_for_timeout(200)
    assert frame_label.inner_text() == paused and canvas.screenshot() == canvas.screenshot()

    box = canvas.bounding_box()  # drag to rotate: the still view changes
    before = canvas.screenshot()
    page.mouse.move(box["x"] + 200, box["y"] + 150)
    page.mouse.down()
    page.mouse.move(box["x"] + 300, box["y"] + 170, steps=5)
    page.mouse.up()
    assert canvas.screenshot() != before

    with page.expect_download() as download:
        card.query_selector("a.bvh").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".bvh" and saved.read_text().startswith("HIERARCHY")

    page.fill("#text", "")
    page.click("#generate")
    page.wait_for_selector("#message.error")
    assert "description" in page.inner_text("#message")
    assert remote == [], f"the page fetched remote resources: {remote}"
    assert [e for e in errors if "400" not in e] == []  # the console notes the 400 answer; nothing else


def test_the_page_says_when_the_action_check_sampled_again(page, serve, tmp_path):
    """The bundled model's seed-0 bow stood upright: the page shows the new sample and says why it was drawn."""
    from motiongpt.app.server import create_app, load_examples
    from motiongpt.generation.pipeline import MotionGPT

    with serve(create_app(MotionGPT.from_pretrained(), load_examples(None), store_root=tmp_path)) as url:
        page.goto(url)
        page.wait_for_selector("#examples button")
        page.fill("#text", "someone bows politely")
        page.fill("#seed", "0")
        page.click("#generate")
        card = page.wait_for_selector(".result", timeout=30_000)
        note = card.query_selector(".matched").inner_text()
    assert "more time(s): the first fell short of the bow asked for (a head drop of at least 0.10 m)" in note
