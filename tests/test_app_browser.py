"""The app (sim/present/app.py) in a real browser: `solara run` in a subprocess, Debian's headless chromium
driven by selenium through Debian's chromedriver.

One server and one page serve the tests (each reads the state it starts from). A missing chromium,
chromedriver, selenium or solara-assets fails with one line saying what to install: CI installs
them (chromium and chromium-driver through apt, the rest with the `test` extra).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import REPO

from sim.present import app

pytestmark = pytest.mark.browser  # without chromium: one line, skipped (an error in CI; tests/conftest.py)

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000"]
LOAD_TIMEOUT = 90  # seconds for the server to start and the first figure to show (2 shared cores)
STEP_TIMEOUT = 30


def needed() -> tuple[str, str]:
    """Chromium's and chromedriver's paths, or one line failing the test with what is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [what for what, ok in [("Debian's chromium (apt-get install -y chromium)", chromium),
                                     ("chromedriver (apt-get install -y chromium-driver)", driver),
                                     ("selenium (pip install -e '.[test]')", importlib.util.find_spec("selenium")),
                                     ("solara-assets (pip install -e '.[test]')",
                                      importlib.util.find_spec("solara_assets"))] if not ok]
    if missing:
        pytest.fail("the app's browser test needs " + "; ".join(missing), pytrace=False)
    return chromium, driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`solara run sim/present/app.py --production` on a free localhost port; its URL."""
    needed()
    port = free_port()
    log = tmp_path_factory.mktemp("solara") / "server.log"
    env = {**os.environ, "MPLBACKEND": "Agg", "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "solara", "run", "sim/present/app.py", "--production",
                                 "--no-open",
                                 "--host", "127.0.0.1", "--port", str(port)],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + LOAD_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"solara run exited with {proc.returncode}: {log.read_text()[-500:]}", pytrace=False)
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"solara run did not answer on {url} in {LOAD_TIMEOUT} s", pytrace=False)
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    """Headless chromium on the app's page, once a figure has shown."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, driver_path = needed()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        driver.get(server)
        WebDriverWait(driver, LOAD_TIMEOUT).until(lambda d: shown_image(d))
        yield driver
    finally:
        driver.quit()


def shown_image(driver, figure: str = ""):
    """The decoded, visible <img> of one of the app's figures (`network`, `cv`, `activity`; any
    image when not given), or None."""
    from selenium.webdriver.common.by import By

    for img in driver.find_elements(By.CSS_SELECTOR, f".figure.{figure} img" if figure else "img"):
        if img.is_displayed() and driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth",
                                                        img):
            return img
    return None


def year_shown(driver) -> int:
    from selenium.webdriver.common.by import By

    counters = driver.find_elements(By.CSS_SELECTOR, ".year-counter")
    assert counters, "no year counter on the page"  # the SolaraViz page showed only 'Time: 0.0'
    text = counters[0].text
    match = re.fullmatch(r"Year (\d+) of (\d+)", text)
    assert match, f"the year counter reads {text!r}"
    return int(match[1])


def test_page_loads_with_a_large_network_map_and_tabs_named_in_words(page):
    from selenium.webdriver.common.by import By

    tabs = [t.text for t in page.find_elements(By.CSS_SELECTOR, ".v-tab")]
    assert tabs and all(re.fullmatch(r"[A-Za-z]+( [A-Za-z]+)*", t) and not t.lower().startswith("page")
                        for t in tabs), tabs  # the SolaraViz page read PAGE 0, PAGE 1
    assert [t.lower() for t in tabs] == [t.lower() for t in app.TABS]
    assert app.TITLE in page.find_element(By.TAG_NAME, "body").text
    img = shown_image(page, "network")
    assert img is not None, "no network map shown"
    main = page.find_element(By.CSS_SELECTOR, ".v-content").size["width"]
    assert img.size["width"] >= 0.6 * main, (img.size, main)  # the old grid showed it at under half the width
    assert page.execute_script("return arguments[0].naturalWidth", img) >= 900


def test_sliders_show_their_values_and_follow_the_thumb(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    sliders = {spec["label"]: spec for spec in app.model_params().values() if spec["type"] == "SliderInt"}
    labels = [e.text for e in page.find_elements(By.CSS_SELECTOR, ".v-slider label, .v-input__slider label")]
    for label, spec in sliders.items():
        assert f"{label}: {spec['value']}" in labels, labels
    seed = sliders["seed"]
    thumb = next(e for e in page.find_elements(By.CSS_SELECTOR, ".v-input__slider")
                 if e.text.startswith("seed:")).find_element(By.CSS_SELECTOR, "[role=slider]")
    thumb.send_keys(Keys.ARROW_RIGHT)
    want = f"seed: {seed['value'] + seed['step']}"
    WebDriverWait(page, STEP_TIMEOUT).until(
        lambda d: any(e.text == want for e in d.find_elements(By.CSS_SELECTOR, ".v-input__slider label")))
    assert thumb.get_attribute("aria-valuenow") == str(seed["value"] + seed["step"])


def test_curves_tab_shows_the_cv_figure(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    tab = next(t for t in page.find_elements(By.CSS_SELECTOR, ".v-tab") if t.text.lower() == "cv curves")
    tab.click()
    img = WebDriverWait(page, STEP_TIMEOUT).until(lambda d: shown_image(d, "cv"))
    assert page.execute_script("return arguments[0].naturalWidth", img) >= 900
    assert shown_image(page, "network") is None  # the map is on its own tab
    page.find_elements(By.CSS_SELECTOR, ".v-tab")[0].click()
    WebDriverWait(page, STEP_TIMEOUT).until(lambda d: shown_image(d, "network"))


def test_step_button_advances_a_year_and_redraws_the_map(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    year = year_shown(page)
    img = shown_image(page, "network")
    assert img is not None, "no network map shown"
    before = img.get_attribute("src")
    step = next(b for b in page.find_elements(By.CSS_SELECTOR, "button") if b.text.strip().lower() == "step")
    step.click()
    WebDriverWait(page, STEP_TIMEOUT).until(lambda d: year_shown(d) == year + 1)
    WebDriverWait(page, STEP_TIMEOUT).until(lambda d: (img := shown_image(d, "network"))
                                            and img.get_attribute("src") != before)
