"""The fan's page (/) and the operator's page (/admin) in a real browser: Debian's chromium,
headless, driven by Selenium through Debian's chromium-driver. Run by scripts/browser.sh (part of
`make test`), which starts two instances behind haproxy on the test stack, as `make run` does,
and passes their address and admin token in the environment:

    BROWSER_BASE_URL   http://127.0.0.1:18380   (haproxy)
    BROWSER_ADMIN_TOKEN                          the instances' ADMIN_TOKEN
    BROWSER_HOLD_SECONDS                         the instances' HOLD_SECONDS
    BROWSER_ARTIFACTS  .data/browser             screenshots of failed tests
    BROWSER_SCREENSHOTS                          when set, where to write the pictures Docs/ shows

Every test creates its own concert through the admin API, so tests never share a line or a seat.
"""

import datetime
import json
import os
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ.get("BROWSER_BASE_URL", "http://127.0.0.1:18380")
ADMIN_TOKEN = os.environ["BROWSER_ADMIN_TOKEN"]
HOLD_SECONDS = int(os.environ.get("BROWSER_HOLD_SECONDS", "20"))
ARTIFACTS = os.environ.get("BROWSER_ARTIFACTS", ".data/browser")
SCREENSHOTS = os.environ.get("BROWSER_SCREENSHOTS")
WAIT = 20


def call(method, path, body=None, token=None):
    """One API call; returns (status, json)."""
    request = urllib.request.Request(BASE + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def new_concert(title, queue=None, days_ahead=30):
    """A concert with one date (tiers of three prices) and the given queue settings."""
    status, concert = call("POST", "/v1/admin/concerts", {"title": title, "artist": "The Browser Tests"}, ADMIN_TOKEN)
    assert status == 201, concert
    date = (datetime.date.today() + datetime.timedelta(days=days_ahead)).isoformat()
    tiers = [{"from": 1, "to": 10, "price": 198000}, {"from": 11, "to": 30, "price": 132000}, {"from": 31, "to": 50, "price": 88000}]
    status, body = call("POST", f"/v1/admin/concerts/{concert['id']}/dates", {"date": date, "tiers": tiers}, ADMIN_TOKEN)
    assert status == 201, body
    settings = {"admitPerSecond": 1000, "activeCapacity": 1000, "waitingIdleSeconds": 600, **(queue or {})}
    status, body = call("PATCH", f"/v1/admin/concerts/{concert['id']}/queue", settings, ADMIN_TOKEN)
    assert status == 200, body
    return concert["id"], date


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,1400"):
        options.add_argument(argument)
    # The console, for the Content-Security-Policy check in tearDown.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.set_page_load_timeout(WAIT)
    return driver


def testid(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{name}"]')


def wait_for(driver, what, condition, timeout=WAIT):
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(d), message=what)


def visible(driver, name):
    elements = driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{name}"]')
    try:
        return elements[0] if elements and elements[0].is_displayed() else None
    except StaleElementReferenceException:
        return None  # re-rendered meanwhile (the concert list reloads): look again


def text_of(driver, name):
    """The text of the element with this test id, or "" when it is missing or being redrawn."""
    try:
        elements = driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{name}"]')
        return elements[0].text if elements else ""
    except StaleElementReferenceException:
        return ""


def error_text(driver):
    element = visible(driver, "error-message")
    return element.text if element else ""


def picture(driver, name, element=None):
    """A picture for Docs/ (of the page's content, or of one element), when BROWSER_SCREENSHOTS asks for them."""
    if SCREENSHOTS:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        element = element or driver.find_element(By.TAG_NAME, "main")
        driver.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(os.path.join(SCREENSHOTS, name))


class PageTest(unittest.TestCase):
    def setUp(self):
        self.drivers = []

    def open(self, path="/"):
        driver = browser()
        self.drivers.append(driver)
        driver.get(BASE + path)
        return driver

    def tearDown(self):
        # A failed test leaves a screenshot of every browser it opened.
        # unittest records a failure or an error of the test itself before tearDown runs.
        result = getattr(getattr(self, "_outcome", None), "result", None)
        failed = result is not None and any(test is self for test, _ in result.errors + result.failures)
        # The pages' Content-Security-Policy (no inline script or style) must not block anything they do.
        violations = []
        for index, driver in enumerate(self.drivers):
            if failed:
                os.makedirs(ARTIFACTS, exist_ok=True)
                path = os.path.join(ARTIFACTS, f"{self.id().split('.')[-1]}-{index}.png")
                driver.save_screenshot(path)
                print(f"screenshot of the failed test: {path}")
            violations += [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]
            driver.quit()
        if violations:
            raise AssertionError(f"the page broke its Content-Security-Policy: {violations[:3]}")

    def join(self, driver, concert_id):
        """From the concert list to ACTIVE."""
        wait_for(driver, "the concert list", lambda d: visible(d, f"concert-{concert_id}")).click()
        testid(driver, "join-queue").click()
        wait_for(driver, "ACTIVE", lambda d: testid(d, "queue-status").get_attribute("data-status") == "ACTIVE")

    def open_seat_map(self, driver, date):
        wait_for(driver, f"the date {date}", lambda d: visible(d, f"date-{date}")).click()
        wait_for(driver, "the seat map", lambda d: visible(d, "seat-50"))


class FanPageTests(PageTest):
    def test_whole_purchase(self):
        concert_id, date = new_concert("Browser purchase")
        driver = self.open()
        picture(driver, "concerts.png")
        self.join(driver, concert_id)
        self.open_seat_map(driver, date)
        seat = testid(driver, "seat-12")
        self.assertEqual(seat.get_attribute("data-status"), "AVAILABLE")
        self.assertEqual(seat.get_attribute("data-price"), "132000")
        testid(driver, "seat-12").click()
        testid(driver, "seat-13").click()
        picture(driver, "seat-map.png")
        testid(driver, "hold-button").click()
        countdown = wait_for(driver, "the hold countdown", lambda d: visible(d, "hold-countdown"))
        wait_for(driver, "a running countdown", lambda d: countdown.text not in ("", "–"))
        wait_for(driver, "seat 12 held", lambda d: testid(d, "seat-12").get_attribute("data-status") == "HELD")
        # Not enough money yet: the page says so, in words.
        wait_for(driver, "the balance", lambda d: testid(d, "balance").text == "₩0")
        testid(driver, "pay-button").click()
        wait_for(driver, "the balance message", lambda d: "balance is too low" in error_text(d))
        testid(driver, "charge-amount").send_keys("300000")
        testid(driver, "charge-button").click()
        wait_for(driver, "the new balance", lambda d: testid(d, "balance").text == "₩300,000")
        testid(driver, "pay-button").click()
        receipt = wait_for(driver, "the receipt", lambda d: visible(d, "receipt"))
        self.assertIn("₩264,000", receipt.text)
        self.assertIn("12, 13", receipt.text)
        self.assertIn("₩36,000", receipt.text)
        picture(driver, "receipt.png")
        # The seats are sold for everyone: another fan sees them so.
        other = self.open()
        self.join(other, concert_id)
        self.open_seat_map(other, date)
        self.assertEqual(testid(other, "seat-12").get_attribute("data-status"), "SOLD")

    def test_poll_far_back_then_stream_near_the_front(self):
        # 200 fans ahead at 4 admissions/s: the wait starts near 50 s, so the page polls (no
        # connection held) and opens the stream once its turn is due within 30 s.
        concert_id, _ = new_concert("Browser poll then stream", {"admitPerSecond": 4, "paused": True})
        ahead = [call("POST", "/v1/queue/tokens", {"userId": str(uuid.uuid4()), "concertId": concert_id})[1] for _ in range(200)]
        self.assertTrue(all(a.get("token") for a in ahead))
        fan = self.open()
        wait_for(fan, "the concert list", lambda d: visible(d, f"concert-{concert_id}")).click()
        testid(fan, "join-queue").click()
        wait_for(fan, "the paused line", lambda d: testid(d, "queue-eta").text == "paused")
        self.assertEqual(testid(fan, "queue-status").get_attribute("data-following"), "poll")
        call("PATCH", f"/v1/admin/concerts/{concert_id}/queue", {"paused": False}, ADMIN_TOKEN)
        def seconds(text):
            return int(text[:-2]) if text.endswith(" s") and text[:-2].isdigit() else None
        wait_for(fan, "an estimate over 30 s", lambda d: (seconds(testid(d, "queue-eta").text) or 0) > 30)
        self.assertEqual(testid(fan, "queue-status").get_attribute("data-following"), "poll")
        wait_for(fan, "the stream near the front", lambda d: testid(d, "queue-status").get_attribute("data-following") == "stream", timeout=40)
        call("PATCH", f"/v1/admin/concerts/{concert_id}/queue", {"admitPerSecond": 1000}, ADMIN_TOKEN)
        wait_for(fan, "ACTIVE", lambda d: testid(d, "queue-status").get_attribute("data-status") == "ACTIVE")

    def test_a_refused_stream_falls_back_to_polling(self):
        # The balancer's streams are all taken (scripts/browser.sh caps them at LB_MAX_STREAMS=4) by
        # waiters of another, paused line, who are never admitted and so never give a stream back:
        # the fan near the front is refused a stream and polls instead, and still gets in.
        concert_id, _ = new_concert("Browser refused stream", {"paused": True})
        elsewhere, _ = new_concert("Browser stream holders", {"paused": True})
        holders = [call("POST", "/v1/queue/tokens", {"userId": str(uuid.uuid4()), "concertId": elsewhere})[1]["token"] for _ in range(4)]
        streams = []
        for token in holders:
            stream = urllib.request.urlopen(urllib.request.Request(f"{BASE}/v1/queue/events?token={token}"), timeout=30)
            stream.readline()  # the first event has arrived: the stream is open
            streams.append(stream)
        try:
            fan = self.open()
            wait_for(fan, "the concert list", lambda d: visible(d, f"concert-{concert_id}")).click()
            testid(fan, "join-queue").click()
            wait_for(fan, "the paused line", lambda d: testid(d, "queue-eta").text == "paused")
            # First in line at 0.05/s: due in 20 s (within 30 s), admitted no sooner, so the page asks for a
            # stream well before its turn, is refused, and polls.
            call("PATCH", f"/v1/admin/concerts/{concert_id}/queue", {"admitPerSecond": 0.05, "paused": False}, ADMIN_TOKEN)
            wait_for(fan, "a refused stream", lambda d: d.execute_script("return state.noStreamUntil") > 0, timeout=15)
            self.assertEqual(testid(fan, "queue-status").get_attribute("data-following"), "poll")
            self.assertEqual(error_text(fan), "")
            call("PATCH", f"/v1/admin/concerts/{concert_id}/queue", {"admitPerSecond": 1000}, ADMIN_TOKEN)
            wait_for(fan, "ACTIVE by polling", lambda d: testid(d, "queue-status").get_attribute("data-status") == "ACTIVE")
        finally:
            for stream in streams:
                stream.close()

    def test_leaving_gives_the_place_and_the_seats_back(self):
        concert_id, date = new_concert("Browser leave", {"paused": True})
        fan = self.open()
        wait_for(fan, "the concert list", lambda d: visible(d, f"concert-{concert_id}")).click()
        testid(fan, "join-queue").click()
        wait_for(fan, "the paused line", lambda d: testid(d, "queue-eta").text == "paused")
        behind = call("POST", "/v1/queue/tokens", {"userId": str(uuid.uuid4()), "concertId": concert_id})[1]
        self.assertEqual(behind["position"], 2)
        testid(fan, "leave-queue").click()
        wait_for(fan, "back at the concert list", lambda d: visible(d, f"concert-{concert_id}"))
        self.assertEqual(call("GET", "/v1/queue/status", token=behind["token"])[1]["position"], 1)
        # Admitted with a hold, the fan gives the turn back: the seats are free at once.
        call("PATCH", f"/v1/admin/concerts/{concert_id}/queue", {"paused": False}, ADMIN_TOKEN)
        self.join(fan, concert_id)
        self.open_seat_map(fan, date)
        testid(fan, "seat-20").click()
        testid(fan, "hold-button").click()
        wait_for(fan, "the hold", lambda d: visible(d, "hold-countdown"))
        testid(fan, "leave-active").click()
        wait_for(fan, "back at the concert list", lambda d: visible(d, f"concert-{concert_id}"))
        seats = call("GET", f"/v1/concerts/{concert_id}/dates/{date}/seats", token=behind["token"])[1]["seats"]
        self.assertEqual(seats[19]["status"], "AVAILABLE")

    def test_sold_out_is_said_in_words(self):
        concert_id, date = new_concert("Browser sold out")
        def buy(seats, pay=True):
            token = call("POST", "/v1/queue/tokens", {"userId": str(uuid.uuid4()), "concertId": concert_id})[1]["token"]
            for _ in range(50):
                if call("GET", "/v1/queue/status", token=token)[1]["status"] == "ACTIVE":
                    break
                time.sleep(0.1)
            call("POST", "/v1/balance/charge", {"amount": 1000000}, token)
            status, held = call("POST", "/v1/reservations", {"concertId": concert_id, "date": date, "seatNumbers": seats}, token)
            self.assertEqual(status, 201, held)
            if pay:
                self.assertEqual(call("POST", "/v1/payments", {"reservationId": held["reservationId"]}, token)[0], 201)
            return token, held
        for first in range(1, 49, 4):
            buy(list(range(first, first + 4)))
        last, held = buy([49, 50], pay=False)
        call("PATCH", f"/v1/admin/concerts/{concert_id}/queue", {"paused": True}, ADMIN_TOKEN)
        fan = self.open()
        wait_for(fan, "the concert list", lambda d: visible(d, f"concert-{concert_id}")).click()
        testid(fan, "join-queue").click()
        wait_for(fan, "the paused line", lambda d: testid(d, "queue-eta").text == "paused")
        self.assertEqual(call("POST", "/v1/payments", {"reservationId": held["reservationId"]}, last)[0], 201)
        notice = wait_for(fan, "the sold-out notice", lambda d: visible(d, "sold-out"), timeout=15)
        self.assertIn("Sold out", notice.text)
        self.assertEqual(testid(fan, "queue-status").get_attribute("data-following"), "none")
        picture(fan, "sold-out.png")
        testid(fan, "sold-out-back").click()
        wait_for(fan, "back at the concert list", lambda d: visible(d, f"concert-{concert_id}"))
        # Joining again is refused in words (by either instance: each one's sold-out answer is at
        # most a second old, so give the one that has not looked since the last payment that second).
        time.sleep(1.2)
        testid(fan, f"concert-{concert_id}").click()
        testid(fan, "join-queue").click()
        wait_for(fan, "the sold-out sentence", lambda d: "sold out" in error_text(d))

    def test_two_browsers_race_for_one_seat(self):
        concert_id, date = new_concert("Browser race")
        fans = [self.open(), self.open()]
        for driver in fans:
            self.join(driver, concert_id)
            self.open_seat_map(driver, date)
            testid(driver, "seat-7").click()
        # Both click "hold" at the same moment.
        start = threading.Barrier(2)

        def click(driver):
            start.wait()
            testid(driver, "hold-button").click()

        threads = [threading.Thread(target=click, args=(driver,)) for driver in fans]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcomes = []
        for driver in fans:
            wait_for(driver, "an outcome", lambda d: visible(d, "hold-countdown") or error_text(d))
            outcomes.append("held" if visible(driver, "hold-countdown") else error_text(driver))
        self.assertEqual(outcomes.count("held"), 1, outcomes)
        loser = fans[outcomes.index("held") ^ 1]
        self.assertIn("someone else has just taken", error_text(loser))
        # The loser's map shows the seat as held within one refresh.
        wait_for(loser, "seat 7 held", lambda d: testid(d, "seat-7").get_attribute("data-status") == "HELD", timeout=6)

    def test_a_countdown_before_the_opening(self):
        opens = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=90)).isoformat()
        concert_id, _ = new_concert("Browser opening", {"opensAt": opens})
        driver = self.open()
        wait_for(driver, "the concert list", lambda d: visible(d, f"concert-{concert_id}")).click()
        testid(driver, "join-queue").click()
        eta = wait_for(driver, "the countdown", lambda d: testid(d, "queue-eta") if testid(d, "queue-eta").text.startswith("opens in") else None)
        self.assertEqual(testid(driver, "queue-status").get_attribute("data-status"), "WAITING")
        self.assertEqual(testid(driver, "queue-position").text, "–")
        first = eta.text
        wait_for(driver, "the countdown ticking", lambda d: testid(d, "queue-eta").text != first, timeout=5)
        picture(driver, "waiting-opening.png")

    def test_a_proof_of_work_before_joining(self):
        concert_id, _ = new_concert("Browser proof of work", {"powDifficulty": 16})
        status, body = call("POST", "/v1/queue/tokens", {"userId": str(uuid.uuid4()), "concertId": concert_id})
        self.assertEqual((status, body["code"]), (403, "PROOF_REQUIRED"))
        driver = self.open()
        self.join(driver, concert_id)
        progress = testid(driver, "proof-progress")
        solved = progress.get_attribute("data-solved-milliseconds")
        self.assertIsNotNone(solved, "the page joined without solving the challenge")
        self.assertGreater(int(progress.get_attribute("data-tried")), 0)
        self.assertFalse(progress.is_displayed(), "the progress line stays after the proof")
        # The fan's live token comes back without a new proof.
        user = driver.execute_script('return localStorage.getItem("boxoffice.userId")')
        status, body = call("POST", "/v1/queue/tokens", {"userId": user, "concertId": concert_id})
        self.assertEqual(status, 200, body)

    def test_a_hold_lapses_on_screen(self):
        concert_id, date = new_concert("Browser lapse")
        driver = self.open()
        self.join(driver, concert_id)
        self.open_seat_map(driver, date)
        testid(driver, "seat-40").click()
        testid(driver, "hold-button").click()
        wait_for(driver, "the hold countdown", lambda d: visible(d, "hold-countdown"))
        wait_for(driver, "the lapse message", lambda d: "hold ran out" in error_text(d), timeout=HOLD_SECONDS + 10)
        self.assertIsNone(visible(driver, "hold-countdown"))
        wait_for(driver, "seat 40 on sale again", lambda d: testid(d, "seat-40").get_attribute("data-status") == "AVAILABLE", timeout=8)


class OperatorPageTests(PageTest):
    def login(self, driver):
        testid(driver, "admin-token").send_keys(ADMIN_TOKEN)
        testid(driver, "admin-login").click()

    def test_wrong_token_is_refused_in_words(self):
        driver = self.open("/admin")
        testid(driver, "admin-token").send_keys("not-the-admin-token-at-all")
        testid(driver, "admin-login").click()
        wait_for(driver, "the refusal", lambda d: "admin token is not right" in error_text(d))

    def test_create_a_concert_and_a_date(self):
        operator = self.open("/admin")
        self.login(operator)
        wait_for(operator, "the console", lambda d: d.find_element(By.ID, "new-title").is_displayed())
        title = f"Made on the page {uuid.uuid4().hex[:6]}"
        operator.find_element(By.ID, "new-title").send_keys(title)
        operator.find_element(By.ID, "new-artist").send_keys("The Operators")
        operator.find_element(By.ID, "create-concert").click()
        # The test database holds hundreds of concerts: find the card in the page, not one by one.
        testid_of_card = wait_for(operator, "the new concert's card", lambda d: d.execute_script(
            "return [...document.querySelectorAll('[data-testid^=\"stats-\"]')]"
            ".find((c) => c.querySelector('h2').textContent.includes(arguments[0]))?.dataset.testid", title))
        concert_id = int(testid_of_card.split("-")[1])
        day = (datetime.date.today() + datetime.timedelta(days=40))
        # The date input takes the browser's locale order; typing it through script keeps the test locale-free.
        operator.execute_script("document.getElementById('date-day').value = arguments[0]", day.isoformat())
        operator.find_element(By.ID, "add-date").click()
        wait_for(operator, "the confirmation", lambda d: f"Added {day.isoformat()} with 50 seats" in d.find_element(By.TAG_NAME, "main").text)
        # A tier list with a gap is refused, in words.
        tiers = operator.find_element(By.ID, "date-tiers")
        tiers.clear()
        tiers.send_keys("1-10:1000, 12-50:500")
        operator.execute_script("document.getElementById('date-day').value = arguments[0]", (day + datetime.timedelta(days=1)).isoformat())
        operator.find_element(By.ID, "add-date").click()
        wait_for(operator, "the refusal", lambda d: "seat" in error_text(d).lower())
        # The fan's page sees the new date, and not the refused one.
        fan = self.open()
        self.join(fan, concert_id)
        wait_for(fan, "the new date", lambda d: visible(d, f"date-{day.isoformat()}"))
        self.assertIsNone(visible(fan, f"date-{(day + datetime.timedelta(days=1)).isoformat()}"))

    def test_a_presale_from_registration_to_a_purchase(self):
        # The operator creates the presale on /admin; a fan registers on /, is drawn (the only
        # registration, one winner; registration stays open 25 s, room for a slow CI machine to
        # sign in and load both pages), sees the code, joins the presale with it and buys; a fan
        # without a code is turned away in words.
        concert_id, date = new_concert("Browser presale")
        operator = self.open("/admin")
        self.login(operator)
        wait_for(operator, "the presale form", lambda d: visible(d, "presale-create"))
        now = datetime.datetime.now()  # datetime-local inputs take the browser's local time

        def local(seconds):
            return (now + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")

        wait_for(operator, "the concert in the presale list", lambda d: d.execute_script(
            "return [...document.getElementById('presale-concert').options].some((o) => o.value === arguments[0])", str(concert_id)))
        for name, value in (("presale-closes", local(25)), ("presale-opens", local(27)), ("presale-ends", local(600))):
            operator.execute_script("arguments[0].value = arguments[1]", testid(operator, name), value)
        operator.execute_script("arguments[0].value = arguments[1]", testid(operator, "presale-concert"), str(concert_id))
        winners = testid(operator, "presale-winners")
        winners.clear()
        winners.send_keys("1")
        testid(operator, "presale-create").click()
        wait_for(operator, "the created presale", lambda d: "0 registered" in testid(d, "presale-state").text)

        fan = self.open()
        wait_for(fan, "the concert list", lambda d: visible(d, f"concert-{concert_id}")).click()
        wait_for(fan, "the register button", lambda d: visible(d, "presale-register")).click()
        wait_for(fan, "registered", lambda d: testid(d, "presale").get_attribute("data-entry") == "REGISTERED")

        time.sleep(max(0, 25.5 - (datetime.datetime.now() - now).total_seconds()))
        testid(operator, "presale-draw").click()
        wait_for(operator, "the draw", lambda d: "drawn; seed" in testid(d, "presale-state").text)

        fan.refresh()
        wait_for(fan, "the concert list", lambda d: visible(d, f"concert-{concert_id}")).click()
        wait_for(fan, "the result", lambda d: testid(d, "presale").get_attribute("data-entry") == "WON")
        self.assertEqual(len(testid(fan, "presale-code").get_attribute("value")), 12)

        time.sleep(max(0, 27.5 - (datetime.datetime.now() - now).total_seconds()))
        stranger = self.open()
        wait_for(stranger, "the concert list", lambda d: visible(d, f"concert-{concert_id}")).click()
        testid(stranger, "join-queue").click()
        wait_for(stranger, "the refusal", lambda d: "only fans drawn in the presale" in error_text(d))

        testid(fan, "join-queue").click()
        wait_for(fan, "ACTIVE", lambda d: testid(d, "queue-status").get_attribute("data-status") == "ACTIVE")
        self.open_seat_map(fan, date)
        testid(fan, "seat-30").click()
        testid(fan, "hold-button").click()
        wait_for(fan, "seat 30 held", lambda d: testid(d, "seat-30").get_attribute("data-status") == "HELD")
        testid(fan, "charge-amount").send_keys("200000")
        testid(fan, "charge-button").click()
        wait_for(fan, "the new balance", lambda d: testid(d, "balance").text == "₩200,000")
        testid(fan, "pay-button").click()
        wait_for(fan, "the receipt", lambda d: visible(d, "receipt"))

    def test_a_webhook_registered_on_the_page_shows_its_deliveries(self):
        # A real receiver (scripts/webhook-receiver.py) that checks signatures and first answers 500.
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        receiver = subprocess.Popen(["python3", os.path.join(root, "scripts/webhook-receiver.py")], stdout=subprocess.PIPE, text=True)
        def stop_receiver():
            receiver.kill()
            receiver.wait()
            receiver.stdout.close()
        self.addCleanup(stop_receiver)
        receiver_base = "http://127.0.0.1:" + receiver.stdout.readline().split()[-1]
        name = "page-" + uuid.uuid4().hex[:8]
        operator = self.open("/admin")
        self.login(operator)
        wait_for(operator, "the console", lambda d: testid(d, "webhook-url").is_displayed())
        testid(operator, "webhook-url").send_keys(f"{receiver_base}/hooks/{name}")
        events = testid(operator, "webhook-events")
        events.clear()
        events.send_keys("balance.charged")
        testid(operator, "webhook-register").click()
        shown = wait_for(operator, "the secret, shown once", lambda d: testid(d, "webhook-secret").text if "whsec_" in testid(d, "webhook-secret").text else None)
        endpoint_id, secret = shown.split()[1].rstrip("."), shown.split()[-1]
        self.addCleanup(lambda: call("DELETE", f"/v1/admin/webhooks/{endpoint_id}", None, ADMIN_TOKEN))
        configure = urllib.request.Request(f"{receiver_base}/config/{name}", method="PUT", data=json.dumps({"secret": secret, "statuses": [500]}).encode())
        urllib.request.urlopen(configure, timeout=5).close()
        # A charge: one balance.charged event, refused once by the receiver, then delivered.
        concert_id, _ = new_concert("Browser webhooks")
        status, token = call("POST", "/v1/queue/tokens", {"userId": str(uuid.uuid4()), "concertId": concert_id})
        self.assertIn(status, (200, 201), token)
        wait_for(operator, "admission", lambda d: call("GET", "/v1/queue/status", None, token["token"])[1].get("status") == "ACTIVE")
        status, body = call("POST", "/v1/balance/charge", {"amount": 10000}, token["token"])
        self.assertEqual(status, 200, body)
        log = wait_for(operator, "a failed attempt, then the delivery", lambda d: (lambda text: text if "HTTP 200" in text and "HTTP 500" in text else None)(
            text_of(d, f"webhook-log-{endpoint_id}")))
        self.assertIn("balance.charged", log)
        self.assertTrue(operator.find_elements(By.CSS_SELECTOR, f'[data-testid="webhook-log-{endpoint_id}"] .failed'), "the failure is marked")
        with urllib.request.urlopen(f"{receiver_base}/received/{name}", timeout=5) as response:
            received = json.loads(response.read())
        self.assertEqual([r["status"] for r in received], [500, 200])
        self.assertTrue(all(r["verified"] for r in received), received)
        # The table is redrawn every 2 s: click through script, on whatever row is there now.
        operator.execute_script("document.querySelector(arguments[0]).click()", f'[data-testid="webhook-{endpoint_id}"] button')
        wait_for(operator, "the endpoint removed", lambda d: not d.find_elements(By.CSS_SELECTOR, f'[data-testid="webhook-{endpoint_id}"]'))

    def test_apply_sends_only_what_the_operator_changed(self):
        # The page shows an opening; another operator moves it; this one changes only the rate.
        first = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)).replace(microsecond=0)
        concert_id, _ = new_concert("Browser apply", {"opensAt": first.isoformat().replace("+00:00", "Z")})
        operator = self.open("/admin")
        self.login(operator)
        card = wait_for(operator, "the concert's settings", lambda d: visible(d, f"stats-{concert_id}"))
        wait_for(operator, "the opening filled in", lambda d: card.find_element(By.CSS_SELECTOR, 'input[name="opensAt"]').get_attribute("value"))
        moved = first + datetime.timedelta(days=1)
        status, _ = call("PATCH", f"/v1/admin/concerts/{concert_id}/queue", {"opensAt": moved.isoformat().replace("+00:00", "Z")}, ADMIN_TOKEN)
        self.assertEqual(status, 200)
        rate = card.find_element(By.CSS_SELECTOR, 'input[name="admitPerSecond"]')
        rate.clear()
        rate.send_keys("7")
        card.find_element(By.CSS_SELECTOR, "button.apply").click()
        settings = wait_for(operator, "the rate applied", lambda d: (lambda s: s if s.get("admitPerSecond") == 7 else None)(
            call("GET", f"/v1/admin/concerts/{concert_id}/queue", None, ADMIN_TOKEN)[1]))
        self.assertEqual(datetime.datetime.fromisoformat(settings["opensAt"].replace("Z", "+00:00")), moved, "the page rewound the opening")

    def test_pausing_stops_the_fans_page(self):
        # Admissions at 1/s behind five others who wait too: the fan's place advances every second.
        concert_id, _ = new_concert("Browser pause", {"admitPerSecond": 1})
        operator = self.open("/admin")
        self.login(operator)
        wait_for(operator, "the concert's figures", lambda d: visible(d, f"stats-{concert_id}"))
        testid(operator, f"pause-{concert_id}").click()
        wait_for(operator, "paused", lambda d: testid(d, f"stats-{concert_id}").get_attribute("data-paused") == "true")
        ahead = [call("POST", "/v1/queue/tokens", {"userId": str(uuid.uuid4()), "concertId": concert_id})[1] for _ in range(5)]
        self.assertTrue(all(a.get("token") for a in ahead), ahead)

        fan = self.open()
        wait_for(fan, "the concert list", lambda d: visible(d, f"concert-{concert_id}")).click()
        testid(fan, "join-queue").click()
        wait_for(fan, "the paused line", lambda d: testid(d, "queue-eta").text == "paused")
        position = testid(fan, "queue-position").text
        self.assertEqual(position, "6")
        picture(fan, "waiting-paused.png")
        time.sleep(4)
        self.assertEqual(testid(fan, "queue-position").text, position, "the line moved while paused")
        self.assertEqual(testid(fan, "queue-status").get_attribute("data-status"), "WAITING")

        testid(operator, f"resume-{concert_id}").click()
        wait_for(fan, "the line moving again", lambda d: testid(d, "queue-position").text not in (position, ""), timeout=10)
        wait_for(fan, "an estimate", lambda d: testid(d, "queue-eta").text.endswith(" s"))
        picture(fan, "waiting.png")
        wait_for(operator, "figures of the line", lambda d: int(testid(d, f"stats-{concert_id}").find_element(By.CSS_SELECTOR, '[data-field="waiting"]').text or 0) > 0)
        picture(operator, "operator.png", testid(operator, f"stats-{concert_id}"))
        wait_for(fan, "ACTIVE", lambda d: testid(d, "queue-status").get_attribute("data-status") == "ACTIVE", timeout=15)


if __name__ == "__main__":
    unittest.main(verbosity=2)
