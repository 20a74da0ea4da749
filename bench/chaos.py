#!/usr/bin/env python3
"""`make chaos`: the purchase rush (k6 rush.js) against the `make run` stack while Redis is killed
(kill -9, restarted 2 s later with its AOF), PostgreSQL is restarted (fast shutdown) and an API
instance is killed (kill -9, started again 5 s later). Prints the answers per second by status
class with the faults marked, then runs `boxoffice check` (no seat sold twice, money conserved).

Fails when the check fails or when any answer is a 5xx other than 503 (a store that is down gives
503 with Retry-After; anything else is a bug). Requests that got no answer at all (status 0, an
instance killed mid-request) are counted apart: haproxy retries only what was never sent.

Environment: CHAOS_SECONDS (60), CHAOS_USERS (60 virtual users), plus scripts/run.sh's variables.
Writes .data/chaos/k6.csv (every request), k6.log and table.md. Python standard library only.
"""
import csv
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the stack settings, psql, fixtures and the stack start)

ROOT, BIN = bench.ROOT, bench.BIN
OUT = os.path.join(ROOT, ".data", "chaos")
SECONDS = int(os.environ.get("CHAOS_SECONDS", "60"))
USERS = int(os.environ.get("CHAOS_USERS", "60"))
SERVICES = os.path.join(ROOT, "scripts", "services.sh")
RUN_DIR = os.path.join(ROOT, ".data", "run")
# The run stack as `make run` has it, with admission wide open (the rush measures purchases, not
# the paced line) and holds short enough that seats come back during the run.
SETTINGS = dict(bench.STACK_SETTINGS, HOLD_SECONDS="30", ACTIVE_SECONDS="60")


def log(message):
    print(f"[chaos] {message}", file=sys.stderr, flush=True)


def pid_of(path):
    with open(path) as handle:
        return int(handle.read().split()[0])


def start_instance(index):
    port = int(os.environ.get("API_BASE_PORT", "8081")) + index - 1
    env = dict(os.environ, **SETTINGS, PORT=str(port), INSTANCE_ID=f"api-{index}",
               DATABASE_URL=bench.DATABASE_URL, REDIS_URL=f"redis://127.0.0.1:{bench.REDIS_PORT}/0")
    with open(os.path.join(RUN_DIR, "logs", f"api-{index}.log"), "a") as logfile:
        process = subprocess.Popen(["setsid", BIN, "serve"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                   stdout=logfile, stderr=subprocess.STDOUT)
    with open(os.path.join(RUN_DIR, "pids", f"api-{index}.pid"), "w") as handle:
        handle.write(str(process.pid))


def faults():
    """(second, description, action), relative to the start of the rush."""
    def kill_redis():
        os.kill(pid_of(os.path.join(RUN_DIR, "redis", "redis.pid")), signal.SIGKILL)

    def start_redis():
        subprocess.run([SERVICES, "run", "start", "redis"], check=True, capture_output=True)

    def restart_postgres():
        subprocess.run([SERVICES, "run", "restart", "postgres"], check=True, capture_output=True)

    def kill_instance():
        os.kill(pid_of(os.path.join(RUN_DIR, "pids", "api-1.pid")), signal.SIGKILL)

    at = SECONDS // 6
    return [
        (at, "kill -9 Redis", kill_redis),
        (at + 2, "Redis started again (AOF)", start_redis),
        (2 * at + 5, "PostgreSQL restarted", restart_postgres),
        (3 * at + 10, "kill -9 api-1", kill_instance),
        (3 * at + 15, "api-1 started again", lambda: start_instance(1)),
    ]


def per_second(path, start):
    """{second: {class: count}} of every request k6 made, by the second it ended in."""
    table = defaultdict(lambda: defaultdict(int))
    with open(path) as handle:
        for row in csv.DictReader(handle):
            if row["metric_name"] != "http_reqs":
                continue
            stamp = float(row["timestamp"])
            second = int((stamp / 1000 if stamp > 1e11 else stamp) - start)
            status = int(row["status"] or 0)
            if status == 0:
                key = "no answer"
            elif status == 503:
                key = "503"
            elif status >= 500:
                key = "other 5xx"
            elif status == 429:
                key = "429"
            elif status >= 400:
                key = "4xx"
            else:
                key = "2xx"
            table[second][key] += 1
    return table


def main():
    os.makedirs(OUT, exist_ok=True)
    bench.run([os.path.join(ROOT, "scripts", "run.sh"), "start"],
              env=dict(SETTINGS, INSTANCES="2", BOXOFFICE_BIN=BIN, SKIP_BUILD="1"))
    concert = bench.bench_concert(60)  # 3,000 seats: purchases go on through every fault
    samples = os.path.join(OUT, "k6.csv")
    k6_env = {"BASE_URL": bench.BASE, "CONCERT_ID": str(concert), "USERS": str(USERS), "ITERATIONS": "100000",
              "DURATION": f"{SECONDS}s", "MAX_WAIT_SECONDS": "20", "REPLAY_RATIO": "0.1"}
    command = ["k6", "run", "--quiet", "--out", f"csv={samples}"] + sum((["-e", f"{k}={v}"] for k, v in k6_env.items()), []) \
        + [os.path.join(ROOT, "k6", "rush.js")]
    log(f"rush: {USERS} users for {SECONDS} s on concert {concert}")
    start = time.time()
    k6_log = open(os.path.join(OUT, "k6.log"), "w")  # k6's own complaints about 503s can be many
    # Millisecond timestamps in the CSV (k6 writes whole seconds by default).
    k6 = subprocess.Popen(command, cwd=ROOT, stdout=k6_log, stderr=subprocess.STDOUT,
                          env=dict(os.environ, K6_CSV_TIME_FORMAT="unix_milli"))
    marks = {}
    for second, description, action in faults():
        time.sleep(max(0, start + second - time.time()))
        began = time.time() - start
        action()
        marks[int(began)] = description
        log(f"t={began:5.1f}s {description} (took {time.time() - start - began:.1f} s)")
    k6.wait()
    k6_log.close()

    log("correctness: boxoffice check")
    check = subprocess.run([BIN, "check"], env=dict(os.environ, DATABASE_URL=bench.DATABASE_URL, LOG_LEVEL="warning"),
                           capture_output=True, text=True)
    report = check.stdout.strip().splitlines()[-1] if check.stdout.strip() else check.stderr[-500:]

    table = per_second(samples, start)
    columns = ["2xx", "4xx", "429", "503", "other 5xx", "no answer"]
    lines = ["| s | " + " | ".join(columns) + " | fault |", "|---:|" + "---:|" * len(columns) + "---|"]
    totals = defaultdict(int)
    for second in range(0, max(table) + 1 if table else 0):
        counts = table.get(second, {})
        for key in columns:
            totals[key] += counts.get(key, 0)
        lines.append(f"| {second} | " + " | ".join(str(counts.get(key, 0)) for key in columns) + f" | {marks.get(second, '')} |")
    lines.append("| total | " + " | ".join(str(totals[key]) for key in columns) + " | |")
    lines.append("")
    lines.append(f"`boxoffice check`: {report}")
    text = "\n".join(lines)
    with open(os.path.join(OUT, "table.md"), "w") as handle:
        handle.write(text + "\n")
    print(text)
    failed = check.returncode != 0 or totals["other 5xx"] > 0
    if failed:
        raise SystemExit("chaos run FAILED: " + ("invariant check failed" if check.returncode else f"{totals['other 5xx']} non-503 5xx answers"))
    print(f"\nchaos run passed; table in {os.path.join(OUT, 'table.md')}")


if __name__ == "__main__":
    main()
