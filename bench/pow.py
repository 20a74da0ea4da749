#!/usr/bin/env python3
"""Proof-of-work figures (issue 27): what a difficulty costs a fan and what it leaves a bot farm.
Run against the `make run` stack (`make run`, then `python3 bench/pow.py`; `make pow` does both).

For each difficulty in POW_DIFFICULTIES (default 14,16,18,20,22), on a concert of its own:
- the fan: POW_BROWSER_SAMPLES (10) fresh challenges solved by the page's own Web Worker
  (web/pow-worker.js) in Debian's headless chromium: median and p90 solve time, hashes per second;
- a bot farm on one core: one Python process asking for tokens for new user ids as fast as it can
  for POW_FARM_SECONDS (20) s, solving each challenge with hashlib (a script that does not solve
  gets 403 for every request, checked too): tokens per second, hashes per second;
and once at difficulty 0 (the door open) the same script's tokens per second as the yardstick.
Prints the table Docs/operations.md shows and writes bench/pow.json.
"""

import hashlib
import itertools
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One instance directly (8081): the balancer's per-address token limit would otherwise measure itself.
BASE = "http://127.0.0.1:" + os.environ.get("POW_PORT", "8081")
DIFFICULTIES = [int(d) for d in os.environ.get("POW_DIFFICULTIES", "14,16,18,20,22").split(",")]
SAMPLES = int(os.environ.get("POW_BROWSER_SAMPLES", "10"))
FARM_SECONDS = float(os.environ.get("POW_FARM_SECONDS", "20"))


def admin_token():
    return os.environ.get("ADMIN_TOKEN") or open(os.path.join(ROOT, ".data/run/admin-token")).read().strip()


def call(method, path, body=None, token=None):
    request = urllib.request.Request(BASE + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def concert(difficulty):
    status, created = call("POST", "/v1/admin/concerts", {"title": f"PoW {difficulty}", "artist": "bench/pow.py"}, admin_token())
    assert status == 201, created
    date = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86_400))
    status, body = call("POST", f"/v1/admin/concerts/{created['id']}/dates", {"date": date, "prices": [10_000] * 50}, admin_token())
    assert status == 201, body
    status, body = call("PATCH", f"/v1/admin/concerts/{created['id']}/queue", {"powDifficulty": difficulty, "maxWaiting": 0}, admin_token())
    assert status == 200, body
    time.sleep(1.1)  # instances read a concert's settings at most a second late
    return created["id"]


def zero_bits(digest):
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def farm(concert_id, seconds, solve=True):
    """One core asking for tokens for new users: (tokens, refused, hashes, seconds)."""
    tokens = refused = hashes = 0
    started = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, challenge = call("GET", f"/v1/queue/challenge?concertId={concert_id}")
        body = {"userId": str(uuid.uuid4()), "concertId": concert_id}
        if challenge["difficulty"] > 0:
            nonce = "0"
            if solve:
                prefix = (challenge["challenge"] + ":").encode()
                for n in itertools.count():
                    if zero_bits(hashlib.sha256(prefix + str(n).encode()).digest()) >= challenge["difficulty"]:
                        nonce = str(n)
                        break
                hashes += int(nonce) + 1
            body["proof"] = {"challenge": challenge["challenge"], "nonce": nonce}
        status, _ = call("POST", "/v1/queue/tokens", body)
        if status == 201:
            tokens += 1
        else:
            refused += 1
    return tokens, refused, hashes, time.process_time() - started


def browser_solves(concert_id, difficulty):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    try:
        driver.set_script_timeout(600)
        driver.get(BASE + "/")  # the worker runs on the page's own origin, as for a fan
        solves = []
        for _ in range(SAMPLES):
            _, challenge = call("GET", f"/v1/queue/challenge?concertId={concert_id}")
            result = driver.execute_async_script(
                """const [challenge, difficulty, done] = arguments;
                   const worker = new Worker("/assets/pow-worker.js");
                   worker.onmessage = (event) => {
                     if (event.data.nonce === undefined) return;
                     worker.terminate();
                     done(event.data);
                   };
                   worker.postMessage({ challenge, difficulty });""",
                challenge["challenge"], difficulty)
            digest = hashlib.sha256(f"{challenge['challenge']}:{result['nonce']}".encode()).digest()
            assert zero_bits(digest) >= difficulty, result
            status, body = call("POST", "/v1/queue/tokens", {"userId": str(uuid.uuid4()), "concertId": concert_id,
                                                              "proof": {"challenge": challenge["challenge"], "nonce": result["nonce"]}})
            assert status == 201, body
            solves.append(result)
        return solves
    finally:
        driver.quit()


def main():
    rows = []
    open_door = concert(0)
    tokens, _, _, cpu = farm(open_door, FARM_SECONDS)
    yardstick = tokens / FARM_SECONDS
    print(f"difficulty 0: {yardstick:.0f} tokens/s for one script (client CPU {cpu / FARM_SECONDS:.2f} cores)", file=sys.stderr)
    for difficulty in DIFFICULTIES:
        concert_id = concert(difficulty)
        solves = browser_solves(concert_id, difficulty)
        times = sorted(s["milliseconds"] for s in solves)
        rate = sum(s["tried"] for s in solves) / max(1, sum(s["milliseconds"] for s in solves)) * 1000
        tokens, refused, hashes, cpu = farm(concert_id, FARM_SECONDS)
        lazy_tokens, lazy_refused, _, _ = farm(concert_id, 3, solve=False)
        row = {
            "difficulty": difficulty, "expected_hashes": 2 ** difficulty,
            "browser_ms_median": statistics.median(times), "browser_ms_p90": times[min(len(times) - 1, int(0.9 * len(times)))],
            "browser_hashes_per_s": round(rate), "farm_tokens_per_s": round(tokens / FARM_SECONDS, 2),
            "farm_hashes_per_s": round(hashes / max(cpu, 1e-6)), "farm_refused": refused,
            "no_solve_tokens": lazy_tokens, "no_solve_refused": lazy_refused,
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    with open(os.path.join(ROOT, "bench", "pow.json"), "w") as handle:
        json.dump({"yardstick_tokens_per_s": yardstick, "rows": rows}, handle, indent=2)
    print(f"\n| difficulty | expected hashes | chromium solve median / p90 | chromium hashes/s | one-core script tokens/s (of {yardstick:.0f} with the door open) | script hashes/s | script without solving |")
    print("|---|---:|---|---:|---|---:|---|")
    for r in rows:
        print(f"| {r['difficulty']} | {r['expected_hashes']:,} | {r['browser_ms_median'] / 1000:.2f} / {r['browser_ms_p90'] / 1000:.2f} s "
              f"| {r['browser_hashes_per_s']:,} | {r['farm_tokens_per_s']} ({r['farm_tokens_per_s'] / yardstick:.4f}) "
              f"| {r['farm_hashes_per_s']:,} | {r['no_solve_tokens']} tokens, {r['no_solve_refused']} refused |")


if __name__ == "__main__":
    main()
