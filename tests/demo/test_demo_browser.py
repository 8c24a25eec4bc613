"""The demo page in a real (headless) Chromium: upload a photo, see the anonymized one appear.

Needs Debian's chromium and chromium-driver (`make browser-deps`) and selenium (requirements/demo.txt); skipped
without them. Leaves a screenshot in tests/demo/artifacts/ (FACEBLUR_TEST_ARTIFACTS); with
FACEBLUR_UPDATE_DOCS_SCREENSHOT=1 it also refreshes docs/demo.png. FACEBLUR_DEMO_PHOTO picks another photo.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.demo.conftest import ARTIFACTS, DemoApp
from tests.stack import REFERENCE_IMAGE, REPO_ROOT

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -r requirements/demo.txt")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Flags that work in a container as root, and keep the browser off the network (no updates, sync or QUIC).
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1500",
)  # fmt: skip
PHOTO = Path(os.environ.get("FACEBLUR_DEMO_PHOTO", REFERENCE_IMAGE))
PHOTO_INPUT = "#photo input[type=file]"


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip("no chromium/chromedriver: make browser-deps (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.mark.usefixtures("demo_logs")
def test_uploading_a_photo_shows_its_anonymized_version(demo_app: DemoApp, browser: webdriver.Chrome) -> None:
    browser.get(demo_app.url)
    upload = WebDriverWait(browser, 60).until(lambda page: page.find_element(By.CSS_SELECTOR, PHOTO_INPUT))

    upload.send_keys(str(PHOTO))  # a drop or a file chosen in the dialog: the page runs at once

    result = WebDriverWait(browser, 120).until(lambda page: page.find_element(By.CSS_SELECTOR, "#anonymized img"))
    shown_width = WebDriverWait(browser, 30).until(
        lambda page: page.execute_script("return arguments[0].complete && arguments[0].naturalWidth", result)
    )
    with Image.open(PHOTO) as photo:
        assert shown_width == photo.width
    WebDriverWait(browser, 30).until(lambda page: page.find_element(By.CSS_SELECTOR, "#detected img"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "demo-page.png"
    browser.save_screenshot(str(screenshot))
    if os.environ.get("FACEBLUR_UPDATE_DOCS_SCREENSHOT") == "1":
        (REPO_ROOT / "docs").mkdir(exist_ok=True)
        shutil.copy(screenshot, REPO_ROOT / "docs" / "demo.png")
