"""A real headless Chromium (Debian's chromium and chromedriver) driven by Selenium, and where its screenshots
go: tests/output/web/, for a person to look at (docs/img/ keeps the one the README shows)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.support import REPO, unavailable

SHOTS = REPO / "tests" / "output" / "web"
NO_BROWSER = "chromium and chromedriver are not installed (`make test` installs Debian's chromium and chromium-driver)"


def _binary(*names: str) -> str | None:
    return next((p for n in names if (p := shutil.which(n))), None)


def start_browser():
    """A fresh headless Chromium; skipped where there is none (failed where LINJU_REQUIRE_BROWSER=1, as in CI)."""
    chromium, driver = _binary("chromium", "chromium-browser"), _binary("chromedriver")
    if chromium is None or driver is None:
        unavailable(NO_BROWSER, "LINJU_REQUIRE_BROWSER")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never reach for the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--lang=zh-CN", "--disable-gpu", "--no-first-run"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    # Chinese date pickers in the screenshots, as the committee's browsers show them
    d = webdriver.Chrome(service=Service(driver, env={**os.environ, "LANGUAGE": "zh_CN", "LANG": "zh_CN.UTF-8"}), options=options)
    d.implicitly_wait(0)
    return d


def screenshot(driver, name: str) -> Path:
    """The whole page (its full height) as tests/output/web/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return Math.max(document.body.scrollHeight, 600)")
    driver.set_window_size(1400, min(int(height) + 40, 4000))
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path
