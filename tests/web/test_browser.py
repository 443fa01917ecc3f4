"""The console in a real browser (headless Chromium through chromedriver): a staff member signs in, filters
the tickets, opens one, dispatches and resolves it (the reporter's group receives the notice), confirms a held
message, sees the overview's numbers move and exports XLSX; a staff member of another community neither sees
nor changes that ticket. A screenshot of each page goes to tests/output/web/.

Selenium's calls block, and the console runs on this test's event loop: each browser step runs in a thread."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import openpyxl
import pytest

from tests.web.browser import screenshot, start_browser
from tests.web.conftest import OTHER, PASSWORD

NUMBER = re.compile(r"#(\d{4,})")
LAMP = "4栋楼道灯坏了好几天了，晚上黑漆漆的"
RUBBISH = "6栋门口垃圾堆了三天没人清，臭得很"
HELD = "楼下那个井盖好像有点松"


@pytest.fixture
def browser(tmp_path):
    d = start_browser()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    d.downloads = downloads
    try:
        yield d
    finally:
        d.quit()


def _by(kind: str):
    from selenium.webdriver.common.by import By

    return {"id": By.ID, "css": By.CSS_SELECTOR, "text": By.LINK_TEXT}[kind]


def _sign_in(d, url: str, name: str) -> None:
    d.delete_all_cookies()
    d.get(f"{url}/tickets")
    assert "/login" in d.current_url  # no session: the sign-in form first
    d.find_element(_by("id"), "name").send_keys(name)
    d.find_element(_by("id"), "password").send_keys(PASSWORD)
    d.find_element(_by("id"), "sign-in").click()
    # The form's own URL (/login?next=/tickets) ends the same way: wait for the tickets page itself.
    _wait_for(d, lambda d: urlparse(d.current_url).path == "/tickets" and d.find_elements(_by("id"), "tickets"),
              "the tickets page after signing in")


async def _filed(console, text: str, room: str = "松涛里邻长群") -> str:
    replies = await console.chat.say(text, sender="王贵宝", room=room)
    m = next((m for r in replies if (m := NUMBER.search(r.text))), None)
    assert m, [r.text for r in replies]
    return m.group(1)


def _wait_for(d, predicate, what: str, within: float = 10.0):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:  # the page may still be the one before, or be replaced while it is read
            if (value := predicate(d)):
                return value
        except (NoSuchElementException, StaleElementReferenceException):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; page: {d.current_url}\n{d.page_source[:2000]}")


async def test_a_staff_member_works_a_ticket_in_the_browser(console, browser):
    url = console.url
    lamp, rubbish = await _filed(console, LAMP), await _filed(console, RUBBISH)
    other_ticket = await _filed(console, "韶峰小区2栋电梯坏了，老人下不了楼", room="韶峰邻长群")
    await console.chat.say(HELD, sender="赵阿姨", room="松涛里邻长群")
    run = asyncio.to_thread

    # Sign in and look at the tickets, then filter them to one category.
    def sign_in() -> None:
        browser.get(f"{url}/tickets")
        screenshot(browser, "01-login")
        _sign_in(browser, url, "刘主任")
        rows = browser.find_elements(_by("css"), "#tickets tbody tr")
        ids = {r.get_attribute("id") for r in rows}
        assert {f"ticket-{lamp}", f"ticket-{rubbish}"} <= ids and f"ticket-{other_ticket}" not in ids
        screenshot(browser, "02-tickets")

    await run(sign_in)

    def filter_to_repairs() -> None:
        from selenium.webdriver.support.ui import Select

        Select(browser.find_element(_by("css"), "select[name=category]")).select_by_visible_text("设施报修")
        _wait_for(browser, lambda d: "category=repair" in d.current_url, "the filter to apply")
        ids = {r.get_attribute("id") for r in browser.find_elements(_by("css"), "#tickets tbody tr")}
        assert ids == {f"ticket-{lamp}"}, ids

    await run(filter_to_repairs)
    before = await run(lambda: _overview_numbers(browser, url))

    # Open it; 派单 to 物业, then 办结.
    def open_and_dispatch() -> None:
        browser.get(f"{url}/tickets?category=repair")
        browser.find_element(_by("css"), f"#ticket-{lamp} a").click()
        _wait_for(browser, lambda d: d.current_url.endswith(f"/tickets/{lamp}"), "the ticket's page")
        assert "楼道灯" in browser.page_source
        screenshot(browser, "03-ticket")
        form = browser.find_element(_by("id"), "act-assign")
        form.find_element(_by("css"), "input[name=arg]").send_keys("物业")
        form.find_element(_by("css"), "button[type=submit]").click()
        _wait_for(browser, lambda d: "已派" in d.find_element(_by("css"), ".said").text, "the 派单 confirmation")

    sent = len(console.chat.sent)
    await run(open_and_dispatch)

    def resolve() -> None:
        form = browser.find_element(_by("id"), "act-resolve")
        form.find_element(_by("css"), "button[type=submit]").click()
        _wait_for(browser, lambda d: "办结" in d.find_element(_by("css"), ".said").text, "the 办结 confirmation")
        screenshot(browser, "04-ticket-resolved")

    await run(resolve)
    await console.app.dispatcher.drain()
    told = [r.text for r in console.chat.sent[sent:] if r.room_id == "松涛里邻长群@chatroom"]
    assert any(f"#{lamp}" in t and "已派给物业" in t for t in told), told
    assert any(f"#{lamp}" in t and "已处理完成" in t for t in told), told

    # 待确认: confirm the held message in one click.
    def confirm_held() -> None:
        browser.get(f"{url}/review")
        assert HELD in browser.page_source
        screenshot(browser, "05-review")
        row = browser.find_element(_by("css"), "#pending tbody tr")
        row.find_element(_by("css"), "button.confirm").click()
        _wait_for(browser, lambda d: "工单" in d.find_element(_by("css"), ".said").text, "the confirmation")
        assert HELD not in browser.find_element(_by("css"), "main").text.replace(
            browser.find_element(_by("css"), ".said").text, ""
        )

    await run(confirm_held)
    after = await run(lambda: _overview_numbers(browser, url, shot="06-overview"))
    assert after["received"] == before["received"] + 1, (before, after)  # the confirmed message is a ticket now
    assert after["resolved"] == before["resolved"] + 1, (before, after)

    # Export what the table shows as XLSX.
    def export() -> Path:
        browser.get(f"{url}/tickets")
        browser.find_element(_by("id"), "export-xlsx").click()
        return _wait_for(browser, lambda d: next(iter(d.downloads.glob("*.xlsx")), None), "the XLSX download")

    xlsx = await run(export)
    cells = {str(c.value) for row in openpyxl.load_workbook(xlsx).active.iter_rows() for c in row if c.value}
    assert lamp in cells and rubbish in cells and other_ticket not in cells

    # Rooms and roster (admin), for the screenshot.
    def rooms() -> None:
        _sign_in(browser, url, "管理员")
        browser.get(f"{url}/rooms")
        assert "松涛里邻长群" in browser.page_source
        screenshot(browser, "07-rooms")

    await run(rooms)

    # Another community's staff: the ticket is not in their list, its page is not there, a step on it fails.
    def other_community() -> str:
        _sign_in(browser, url, OTHER + "张干事")
        ids = {r.get_attribute("id") for r in browser.find_elements(_by("css"), "#tickets tbody tr")}
        assert f"ticket-{other_ticket}" in ids and f"ticket-{lamp}" not in ids and f"ticket-{rubbish}" not in ids
        browser.get(f"{url}/tickets/{rubbish}")
        assert "没有" in browser.find_element(_by("css"), "main").text
        screenshot(browser, "08-other-community")
        # Their own session's token, posted at the other community's ticket, as a crafted form would.
        browser.get(f"{url}/tickets/{other_ticket}")
        return browser.execute_script(
            """const csrf = document.querySelector('input[name=csrf]').value;
               const body = new URLSearchParams({csrf, action: 'resolve', arg: ''});
               return fetch(arguments[0], {method: 'POST', body, redirect: 'manual'}).then(r => String(r.status));""",
            f"{url}/tickets/{rubbish}/act",
        )

    untouched = await console.app.web_parts.desk.ticket(_liu(), rubbish)
    status = await run(other_community)
    assert status in ("0", "303", "404")  # a redirect (opaque to fetch) back with the refusal, or not found
    detail = await console.app.web_parts.desk.ticket(_liu(), rubbish)
    assert detail is not None and untouched is not None and untouched.status == "new"
    assert (detail.status, len(detail.events)) == (untouched.status, len(untouched.events))


def _liu():
    from handlers.context import Actor

    return Actor(id="wxid_刘主任", name="刘主任", role="staff", communities=frozenset({"书院路社区"}))


def _overview_numbers(d, url: str, shot: str | None = None) -> dict[str, int]:
    d.get(f"{url}/overview")
    numbers = {}
    for key in ("received", "resolved"):
        text = d.find_element(_by("id"), f"n-{key}").text
        numbers[key] = int(re.sub(r"\D", "", text) or 0)
    if shot:
        screenshot(d, shot)
    return numbers
