#!/usr/bin/env python3
"""The on-sale rehearsal (issue 22), `make rehearsal`: REHEARSAL_FANS fans (default 100,000) on the
`make run` stack (2 instances behind haproxy; REDIS_MODE=cluster for the Redis Cluster), arriving
over a ramp around a scheduled opening set through the admin API, each doing what the fan's page
does (the Swift load generator `boxoffice-rehearsal`). While it runs, this script samples every
second the RSS of the instances and haproxy, Redis memory and each program's CPU. Afterwards it
reads the sales figures, runs `boxoffice check`, prints the table Docs/benchmarks.md shows and
writes everything to bench/rehearsal.json. Exit status 1 when a criterion of the issue fails
(refused or timed-out arrivals, server errors, FIFO displacement, ETA p10-p90 outside +-15%,
a failed check).

Environment: REHEARSAL_FANS (100000), REHEARSAL_EARLY_SECONDS (60: arrivals before the opening),
REHEARSAL_RAMP_SECONDS (180: all arrivals), REHEARSAL_DATES (400: 50 seats each),
REHEARSAL_ADMIT_PER_SECOND (150), REHEARSAL_CAPACITY (3000), REHEARSAL_DURATION_SECONDS (900),
REDIS_MODE (single | cluster), SKIP_BUILD=1, and the generator's REHEARSAL_* shares (see
Sources/boxoffice-rehearsal/main.swift).
"""

import datetime
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = "http://127.0.0.1:" + os.environ.get("LB_PORT", "8080")
FANS = int(os.environ.get("REHEARSAL_FANS", "100000"))
EARLY = float(os.environ.get("REHEARSAL_EARLY_SECONDS", "60"))
RAMP = float(os.environ.get("REHEARSAL_RAMP_SECONDS", "180"))
DATES = int(os.environ.get("REHEARSAL_DATES", "400"))
RATE = float(os.environ.get("REHEARSAL_ADMIT_PER_SECOND", "150"))
CAPACITY = int(os.environ.get("REHEARSAL_CAPACITY", "3000"))
MODE = os.environ.get("REDIS_MODE", "single")
SOLD_OUT = "refused 410 SOLD_OUT"
PG_URL = "postgres://boxoffice:boxoffice@127.0.0.1:15432/boxoffice"
REDIS_URL = "redis://127.0.0.1:16379/0"
STACK = {
    # One machine sends every fan: lift the per-address guards, which would measure themselves.
    "TOKEN_RATE_LIMIT": "1000000000", "LB_PER_ADDRESS_CONNECTIONS": "100000",
    "MAX_WAITING": "1000000", "LOG_LEVEL": "warning", "REDIS_MODE": MODE, "SWIFT_CONFIG": "release", "SKIP_BUILD": "1",
}


def log(message):
    print(f"[rehearsal] {message}", file=sys.stderr, flush=True)


def run(cmd, env=None, capture=False):
    return subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, **(env or {})), check=True, text=True,
                          stdout=subprocess.PIPE if capture else None)


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


def pids():
    """The instances' and haproxy's pids, from the run stack's pid files."""
    folder = os.path.join(ROOT, ".data", "run", "pids")
    found = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as handle:
            found[name[:-4]] = int(handle.readline().strip())
    return found


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_ticks():
    """CPU ticks by program name (utime + stime of every process), for each program's share."""
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)
            name = fields[0].split("(", 1)[1]
            values = fields[1].split()
            ticks[name] = ticks.get(name, 0) + int(values[11]) + int(values[12])
        except (OSError, IndexError):
            continue
    return ticks


def redis_memory_mb():
    ports = [str(17001 + i) for i in range(6)] if MODE == "cluster" else ["16379"]
    total = 0
    for port in ports:
        out = subprocess.run(["redis-cli", "-p", port, "INFO", "memory"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("used_memory:"):
                total += int(line.split(":")[1])
    return total / 1024 / 1024


class Sampler(threading.Thread):
    """Peaks of RSS and Redis memory, once a second."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.peak_rss = {}
        self.peak_redis = 0.0
        self.watch = pids()

    def run(self):
        while not self.stop.is_set():
            for name, pid in self.watch.items():
                self.peak_rss[name] = max(self.peak_rss.get(name, 0.0), rss_mb(pid))
            self.peak_redis = max(self.peak_redis, redis_memory_mb())
            self.stop.wait(1)


def prepare_concert(admin):
    status, concert = call("POST", "/v1/admin/concerts", {"title": f"Rehearsal {datetime.datetime.now():%H:%M}", "artist": "The Rehearsal"}, admin)
    assert status == 201, concert
    tiers = [{"from": 1, "to": 10, "price": 198000}, {"from": 11, "to": 30, "price": 132000}, {"from": 31, "to": 50, "price": 88000}]
    first = datetime.date.today() + datetime.timedelta(days=30)
    for offset in range(DATES):
        day = (first + datetime.timedelta(days=offset)).isoformat()
        status, body = call("POST", f"/v1/admin/concerts/{concert['id']}/dates", {"date": day, "tiers": tiers}, admin)
        assert status == 201, body
    return concert["id"]


def main():
    if os.environ.get("SKIP_BUILD") != "1":
        log("building the release binaries")
        run(["swift", "build", "-c", "release", "--product", "boxoffice"])
        run(["swift", "build", "-c", "release", "--product", "boxoffice-rehearsal"])
    bin_dir = run(["swift", "build", "-c", "release", "--show-bin-path"], capture=True).stdout.strip()
    log(f"starting the stack ({MODE} Redis)")
    run([os.path.join(ROOT, "scripts", "run.sh"), "start"], env=dict(STACK, BOXOFFICE_BIN=os.path.join(bin_dir, "boxoffice")))
    admin = open(os.path.join(ROOT, ".data", "run", "admin-token")).read().strip()
    concert = prepare_concert(admin)
    opens_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=EARLY + 5)
    settings = {"opensAt": opens_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "admitPerSecond": RATE,
                "activeCapacity": CAPACITY, "activeSeconds": 300, "waitingIdleSeconds": 90, "maxWaiting": FANS * 2}
    status, body = call("PATCH", f"/v1/admin/concerts/{concert}/queue", settings, admin)
    assert status == 200, body
    log(f"concert {concert}: {DATES * 50} seats, opening {settings['opensAt']}, {RATE}/s, capacity {CAPACITY}; {FANS} fans over {RAMP} s")

    cluster_nodes = subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), "run", "nodes"], capture_output=True,
                                   text=True).stdout.strip() if MODE == "cluster" else ""
    sampler = Sampler()
    sampler.start()
    before = cpu_ticks()
    started = time.time()
    generator = subprocess.run(
        [os.path.join(bin_dir, "boxoffice-rehearsal")], cwd=ROOT, check=True, text=True, stdout=subprocess.PIPE,
        env=dict(os.environ, REHEARSAL_BASE=BASE, REHEARSAL_CONCERT=str(concert), REHEARSAL_FANS=str(FANS),
                 REHEARSAL_RAMP_SECONDS=str(RAMP), REHEARSAL_OPENS_AT_MS=str(int(opens_at.timestamp() * 1000)),
                 REDIS_URL=REDIS_URL, REDIS_CLUSTER_NODES=cluster_nodes))
    elapsed = time.time() - started
    after = cpu_ticks()
    sampler.stop.set()
    sampler.join()
    report = json.loads(generator.stdout)
    hz = os.sysconf("SC_CLK_TCK")
    cpu = {name: round((after.get(name, 0) - before.get(name, 0)) / hz / elapsed, 2) for name in after}
    cpu = {name: share for name, share in sorted(cpu.items(), key=lambda item: -item[1]) if share >= 0.01}
    _, stats = call("GET", f"/v1/admin/concerts/{concert}/stats", token=admin)
    check = subprocess.run([os.path.join(bin_dir, "boxoffice"), "check"], cwd=ROOT, text=True, capture_output=True,
                           env=dict(os.environ, DATABASE_URL=PG_URL, LOG_LEVEL="warning"))
    report.update(concert=concert, mode=MODE, seats=DATES * 50, admitPerSecond=RATE, capacity=CAPACITY, earlySeconds=EARLY,
                  peakRssMb={name: round(value, 1) for name, value in sampler.peak_rss.items()},
                  peakRedisMb=round(sampler.peak_redis, 1), cpuCores=cpu, stats=stats, check=check.stdout.strip(),
                  checkExit=check.returncode)
    # Polls falling off after the sell-out: the fans' polls per second in the 10 s before the first
    # fan saw soldOut and in the 10 s from 5 s after it (every waiter's next poll has come by then).
    polls = report.pop("pollsPerSecond", [])
    report.pop("streamsPerSecond", None)
    sold_out = report.get("soldOutSeenAtSeconds")
    if sold_out is not None and polls:
        at = int(sold_out)
        before_window, after_window = polls[max(0, at - 10):at], polls[at + 5:at + 15]
        report["pollsBeforeSoldOut"] = round(sum(before_window) / max(1, len(before_window)))
        report["pollsAfterSoldOut"] = round(sum(after_window) / max(1, len(after_window)))
    with open(os.path.join(ROOT, "bench", "rehearsal.json"), "w") as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
    print_table(report)
    failures = verdict(report)
    for failure in failures:
        log("FAILED: " + failure)
    sys.exit(1 if failures else 0)


def verdict(report):
    failures = []
    # A 410 SOLD_OUT is an answer (the line closed), not a refusal.
    answered = report["arrivals"].get("answered", 0) + report["arrivals"].get(SOLD_OUT, 0)
    if answered != report["fans"]:
        failures.append(f"{report['fans'] - answered} arrivals not answered: {report['arrivals']}")
    if report["errors"]:
        failures.append(f"errors: {report['errors']}")
    if report["displacementMax"] != 0 or report["lateAdmittedBeforeEarly"] != 0:
        failures.append(f"FIFO: displacement {report['displacementMax']}, late before early {report['lateAdmittedBeforeEarly']}")
    if report["etaJudged"] and not (0.85 <= (report["etaP10"] or 0) and (report["etaP90"] or 9) <= 1.15):
        failures.append(f"ETA p10-p90 {report['etaP10']}-{report['etaP90']} outside 0.85-1.15")
    if report["checkExit"] != 0:
        failures.append("boxoffice check: " + report["check"])
    return failures


def print_table(report):
    def lat(route):
        figures = report["latencyMs"].get(route, {})
        return f"{figures.get('p50', 0):.1f} / {figures.get('p99', 0):.1f} ms ({int(figures.get('count', 0))})"
    eta = "n/a" if not report["etaJudged"] else f"{report['etaP10']:.2f} / {report['etaP50']:.2f} / {report['etaP90']:.2f} ({report['etaWithin15']} of {report['etaJudged']} within ±15%)"
    refused = {k: v for k, v in report["arrivals"].items() if k not in ("answered", SOLD_OUT)}
    rows = [
        ("fans, ramp", f"{report['fans']:,} over {report['rampSeconds']:.0f} s, the first {report['earlySeconds']:.0f} s before the opening; Redis: {report['mode']}"),
        ("sale", f"{report['seats']:,} seats, {report['admitPerSecond']:.0f} admissions/s, capacity {report['capacity']:,}"),
        ("arrivals: in line / told sold out (410) / refused / timed out or failed", f"{report['arrivals'].get('answered', 0):,} / {report['arrivals'].get(SOLD_OUT, 0):,} / {sum(v for k, v in refused.items() if not k.startswith('failed')):,} / {sum(v for k, v in refused.items() if k.startswith('failed')):,}"),
        ("server errors and failed calls after arrival", json.dumps(report["errors"]) if report["errors"] else "0"),
        ("FIFO after the opening: max displacement (admitted late arrivals)", f"{report['displacementMax']} ({report['lateAdmitted']:,}); late before early: {report['lateAdmittedBeforeEarly']}"),
        ("ETA actual/promised p10 / p50 / p90", eta),
        ("polls/s at peak; streams open at peak (refused)", f"{report['pollsPeak']:,}; {report['streamsPeak']:,} ({report['streamsRefused']:,})"),
        ("catalogue reads p50 / p99", lat("catalogue")),
        ("holds p50 / p99", lat("hold")),
        ("payments p50 / p99", lat("payment")),
        ("token requests p50 / p99", lat("arrival")),
        ("Redis memory peak", f"{report['peakRedisMb']} MB"),
        ("RSS peak", ", ".join(f"{name} {value} MB" for name, value in report["peakRssMb"].items())),
        ("CPU (cores, whole run)", ", ".join(f"{name} {share}" for name, share in list(report["cpuCores"].items())[:6])),
        ("load generator", f"{report['generatorCores']:.2f} cores ({report['generatorCpuSeconds']:.0f} CPU s in {report['wallSeconds']:.0f} s)"),
        ("seats sold (stats) / bought (fans)", f"{report['stats'].get('sold')} / {report['seatsBought']}; sold out seen at {report.get('soldOutSeenAtSeconds')} s"),
        ("polls/s in the 10 s before the sell-out / 5-15 s after it", f"{report.get('pollsBeforeSoldOut', 'n/a')} / {report.get('pollsAfterSoldOut', 'n/a')}"),
        ("fans' outcomes", json.dumps(report["outcomes"], sort_keys=True)),
        ("boxoffice check", report["check"]),
    ]
    print("| figure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
