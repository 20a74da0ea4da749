#!/usr/bin/env python3
"""`make bench`: measure BoxOffice against baselines taken in the same run, on this machine.

Baselines: wrk on /health/live (the HTTP stack doing nothing), redis-benchmark running the very
Lua script a queue poll runs, and pgbench running the hold and payment transactions statement
for statement. Scenarios: queue_enter, queue_enter_pow, queue_poll, queue_poll_long, hold_distinct, hold_uncontended, payment
(wrk through haproxy), outbox_cost (holds and payments with the outbox off, `boxoffice.outbox = off` on the
database, and on, in four blocks ordered off, on, on, off on freshly started stacks), hot_seat_1000 and rush (k6), and event_streams (BENCH_STREAMS open
streams on one instance: Redis commands/s and other users' poll p99 with and without them). Prints a table with each scenario's ratio to
its baseline and writes bench/results.json. Ends with `boxoffice check` (no seat sold twice,
money conserved).

Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_INSTANCES ("2"; "1,2,3" runs the
scaling series), BENCH_HOLDS (30000), BENCH_PAYMENTS (20000), BENCH_POW_TOKENS (40000: proofs solved for queue_enter_pow), BENCH_OUTBOX_PAIRS (3: off/on pairs of outbox_cost), BENCH_STREAMS (2000), BENCH_LONG_LINE (100000: the line queue_poll_long polls 2,000 waiters of), BOXOFFICE_BIN, LB_PORT (8080),
REDIS_MODE=cluster (after the single-Redis series, queue_enter, queue_poll and hold_distinct again with 2
instances on the local Redis Cluster, each against its single-Redis figure of the same run),
PG_MODE=ha (then pgbench simple-update, hold_distinct and payment again with 2 instances on
PostgreSQL under Patroni with synchronous replication, scripts/patroni.sh run, each against its
single-PostgreSQL figure of the same run), plus scripts/run.sh's own variables. Python standard library only.
"""
import concurrent.futures
import datetime
import hashlib
import http.client
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
LB_PORT = int(os.environ.get("LB_PORT", "8080"))
BASE = f"http://127.0.0.1:{LB_PORT}"
PG_PORT = os.environ.get("PG_PORT", "15432")
REDIS_PORT = os.environ.get("REDIS_PORT", "16379")
DATABASE_URL = f"postgres://boxoffice:boxoffice@127.0.0.1:{PG_PORT}/boxoffice"
# The local stack's superuser (trust auth on 127.0.0.1): a custom setting on the database needs it.
SUPERUSER_URL = f"postgres://postgres@127.0.0.1:{PG_PORT}/boxoffice"
PGBENCH_DB = "boxoffice_pgbench"
PGBENCH_URL = f"postgres://boxoffice:boxoffice@127.0.0.1:{PG_PORT}/{PGBENCH_DB}"
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
HOLDS = int(os.environ.get("BENCH_HOLDS", "30000"))
PAYMENTS = int(os.environ.get("BENCH_PAYMENTS", "20000"))
POW_TOKENS = int(os.environ.get("BENCH_POW_TOKENS", "40000"))
OUTBOX_PAIRS = int(os.environ.get("BENCH_OUTBOX_PAIRS", "3"))
INSTANCE_SERIES = [int(n) for n in os.environ.get("BENCH_INSTANCES", "2").split(",")]
# BENCH_SCENARIOS=queue_poll,payment runs only those (for iterating on one bottleneck).
ONLY = set(filter(None, os.environ.get("BENCH_SCENARIOS", "").split(",")))
BIN = os.environ.get("BOXOFFICE_BIN") or os.path.join(ROOT, ".build", "release", "boxoffice")

# The stack runs with admission wide open: the benchmark measures request handling, not the
# deliberately paced queue. Holds last long enough to be paid within the run.
STACK_SETTINGS = {
    "ACTIVE_CAPACITY": "10000000",
    "ADMIT_PER_SECOND": "1000000",
    "HOLD_SECONDS": "1800",
    "ACTIVE_SECONDS": "1800",
    "WAITING_IDLE_SECONDS": "600",
    "LOG_LEVEL": "warning",
    "POOL_TIMEOUT_MS": "10000",
    # The load comes from one address and piles up far more waiters than a real line: lift the
    # haproxy per-address token and connection limits, the line cap and the stream cap, which
    # would measure the guards instead.
    "TOKEN_RATE_LIMIT": "1000000000",
    "LB_PER_ADDRESS_CONNECTIONS": "100000",
    "MAX_WAITING": "0",
    "MAX_EVENT_STREAMS": "100000",
}


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(cmd, env=None, capture=False, check=True, cwd=ROOT):
    merged = dict(os.environ, **(env or {}))
    result = subprocess.run(cmd, env=merged, cwd=cwd, text=True,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.PIPE if capture else None)
    if check and result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout or ''}{result.stderr or ''}")
    return result


def psql(url, sql=None, file=None, variables=None, capture=True):
    cmd = ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt"]
    for name, value in (variables or {}).items():
        cmd += ["-v", f"{name}={value}"]
    cmd += ["-f", file] if file else ["-c", sql]
    return run(cmd, capture=capture, cwd=BENCH).stdout


# --- HTTP preparation (many small requests through the load balancer) ---------------------------

_local = threading.local()


def call(method, path, body=None, token=None, headers=None):
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = http.client.HTTPConnection("127.0.0.1", LB_PORT, timeout=60)
    all_headers = {"Content-Type": "application/json"}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    all_headers.update(headers or {})
    for attempt in range(3):
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=all_headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, (json.loads(data) if data else {})
        except (http.client.HTTPException, OSError):
            connection.close()
            connection = _local.connection = http.client.HTTPConnection("127.0.0.1", LB_PORT, timeout=60)
    raise SystemExit(f"{method} {path} failed three times")


def parallel(function, items, workers=32):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def take_token(concert):
    status, body = call("POST", "/v1/queue/tokens", {"userId": str(uuid.uuid4()), "concertId": concert})
    if status not in (200, 201):
        raise SystemExit(f"token request failed: {status} {body}")
    return body["token"]


def wait_active(tokens):
    for token in tokens[:: max(1, len(tokens) // 50)] + tokens[-1:]:
        for _ in range(200):
            status, body = call("GET", "/v1/queue/status", token=token)
            if body.get("status") == "ACTIVE":
                break
            time.sleep(0.1)
        else:
            raise SystemExit(f"token not admitted: {body}")


CREATED_CONCERTS = []


def bench_concert(dates):
    """A fresh concert with `dates` dates of 50 seats, so every run starts with free seats."""
    concert = int(time.time() * 1000) % 1_000_000_000 + 1_000_000_000
    CREATED_CONCERTS.append(concert)
    psql(DATABASE_URL, file="fixtures.sql", variables={"concert": concert, "dates": dates})
    time.sleep(1.1)  # the instances' concert cache reloads on a miss at most once a second
    return concert


# --- where the CPU goes -------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")
GROUPS = {"boxoffice": "boxoffice", "postgres": "postgres", "redis-server": "redis", "haproxy": "haproxy",
          "wrk": "load generator", "k6": "load generator", "pgbench": "load generator", "redis-benchmark": "load generator",
          "python3": "load generators (exited) + bench script"}


def cpu_snapshot():
    """CPU seconds used so far by each program group. A process's own time plus that of children it
    reaped: pgbench's PostgreSQL backends count under postgres (the postmaster reaps them), and load
    generators that already exited count under the bench script that started them."""
    totals = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as handle:
                data = handle.read()
        except OSError:
            continue
        name = data[data.index("(") + 1:data.rindex(")")]
        fields = data[data.rindex(")") + 2:].split()
        group = GROUPS.get(name) or ("postgres" if name.startswith("postgres") else None)
        if group:
            totals[group] = totals.get(group, 0) + sum(int(value) for value in fields[11:15]) / TICKS
    return totals


def cpu_delta(before, start):
    """Cores used per program group since `before` was taken at `start`."""
    after, elapsed = cpu_snapshot(), time.monotonic() - start
    return {group: round((after.get(group, 0) - before.get(group, 0)) / elapsed, 2)
            for group in sorted(after) if after.get(group, 0) - before.get(group, 0) > 0.05 * elapsed}


def quiet_database(patience=180):
    """Waits (up to `patience` s) until no autovacuum worker runs in any database: one still
    cleaning up after the last block or the pgbench baselines would be billed to the next block
    (one block of 12-04 paid 105/s instead of about 1,200/s, with 17 ms of PostgreSQL CPU per
    payment that its own statements did not account for)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline and psql(
            SUPERUSER_URL, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'").strip() != "0":
        time.sleep(1)


def database_work():
    """WAL bytes written and autovacuum runs finished so far in the local PostgreSQL: what a block
    made the database write besides its statements (zeros when it does not answer: the HA series)."""
    answer = run(["psql", SUPERUSER_URL, "-qAt", "-c", "SELECT (SELECT wal_bytes FROM pg_stat_wal), "
                  "(SELECT sum(autovacuum_count + autoanalyze_count) FROM pg_stat_all_tables)"], capture=True, check=False)
    if answer.returncode != 0:
        return {"wal_bytes": 0, "autovacuums": 0}
    wal, vacuums = answer.stdout.strip().split("|")
    return {"wal_bytes": int(float(wal)), "autovacuums": int(vacuums)}


# --- load generators ----------------------------------------------------------------------------

def wrk(script, seconds=SECONDS, connections=CONNECTIONS, threads=2, path="/health/live", env=None, base=BASE, headers=()):
    environment = dict(env or {}, BENCH_DIR=BENCH, BENCH_THREADS=str(threads))
    database_before = database_work()
    before, start = cpu_snapshot(), time.monotonic()
    result = run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
                  *[argument for header in headers for argument in ("-H", header)],
                  "-s", os.path.join(BENCH, "wrk", script), base + path], env=environment, capture=True)
    match = re.search(r"BENCH_JSON (\{.*\})", result.stderr + result.stdout)
    if not match:
        raise SystemExit(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    data = json.loads(match.group(1))
    data["cpu"] = cpu_delta(before, start)
    data["database"] = {name: after - database_before[name] for name, after in database_work().items()}
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    if data.get("wrapped"):
        raise SystemExit(f"{script}: ran out of prepared items ({data['wrapped']} re-sent); raise BENCH_HOLDS / BENCH_PAYMENTS")
    data["errors"] = data["server_errors"] + data["socket_errors"] + data["client_errors"]
    return data


def pgbench(script, seconds=SECONDS, clients=8, variables=None, url=PGBENCH_URL):
    prefix = tempfile.mkdtemp(prefix="pgbench-") + "/log"
    cmd = ["pgbench", "-n", "-M", "prepared", f"-c{clients}", "-j2", f"-T{seconds}", "--log", f"--log-prefix={prefix}",
           "-f", os.path.join(BENCH, "pgbench", script)]
    for name, value in (variables or {}).items():
        cmd += ["-D", f"{name}={value}"]
    before, start = cpu_snapshot(), time.monotonic()
    result = run(cmd + [url], capture=True)
    cpu = cpu_delta(before, start)
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    latencies = []
    directory = os.path.dirname(prefix)
    for name in os.listdir(directory):
        with open(os.path.join(directory, name)) as handle:
            latencies += [int(line.split()[2]) for line in handle if line.strip()]
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000 if latencies else 0
    return {"rps": tps, "p50_ms": pick(0.50), "p99_ms": pick(0.99), "errors": int(failed.group(1)) if failed else 0, "cpu": cpu}


def pgbench_simple_update(url=PGBENCH_URL):
    """pgbench's built-in `simple-update` (scale 10, 16 clients, 2 threads, prepared): one small
    durable write transaction, the yardstick our own SQL cannot move (issue 11)."""
    run(["pgbench", "-i", "-q", "-s", "10", url], capture=True)
    before, start = cpu_snapshot(), time.monotonic()
    result = run(["pgbench", "-n", "-b", "simple-update", "-M", "prepared", "-c16", "-j2", f"-T{SECONDS}", url], capture=True)
    cpu = cpu_delta(before, start)
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout).group(1))
    latency = re.search(r"latency average = ([0-9.]+) ms", result.stdout)
    return {"rps": tps, "p50_ms": float(latency.group(1)) if latency else 0, "p99_ms": 0, "errors": 0, "cpu": cpu}


def redis_benchmark_poll():
    """redis-benchmark running the queue-status script (one EVALSHA per poll, as the API does)."""
    source = run([BIN, "lua", "queue-status"], capture=True).stdout
    redis = ["redis-cli", "-p", REDIS_PORT]
    sha = run(redis + ["SCRIPT", "LOAD", source], capture=True).stdout.strip()
    keys = run([BIN, "lua", "queue-status", "--keys", "0"], capture=True).stdout.split()
    prefix, token = "bo:{c:0}:", "0.00000000000000000000000000000bench"
    run(redis + ["HSET", prefix + "tokens", token, f"{uuid.uuid4()} 1 0"], capture=True)
    run(redis + ["ZADD", prefix + "waiting", "1", token], capture=True)
    result = run(["redis-benchmark", "-p", REDIS_PORT, "-c", "50", "-n", "300000", "--csv",
                  "EVALSHA", sha, str(len(keys))] + keys + [token, "1", "", "6000"], capture=True)
    rows = [line for line in result.stdout.splitlines() if line.startswith('"EVALSHA')]
    fields = [field.strip('"') for field in rows[-1].split(",")]
    return {"rps": float(fields[1]), "p50_ms": float(fields[4]) if len(fields) > 4 else 0,
            "p99_ms": float(fields[6]) if len(fields) > 6 else 0, "errors": 0}


def k6(script, env):
    summary = tempfile.mktemp(suffix=".json")
    before, start = cpu_snapshot(), time.monotonic()
    result = run(["k6", "run", "--quiet", "--summary-export", summary] + sum((["-e", f"{k}={v}"] for k, v in env.items()), [])
                 + [os.path.join(ROOT, "k6", script)], capture=True, check=False)
    if not os.path.exists(summary):
        raise SystemExit(f"k6 {script} produced no summary:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    with open(summary) as handle:
        metrics = json.load(handle)["metrics"]
    metrics["_cpu"] = cpu_delta(before, start)
    return metrics, result.returncode


# --- scenarios ----------------------------------------------------------------------------------

CLUSTER_PORT = os.environ.get("CLUSTER_BASE_PORT", "17001")
# REDIS_MODE=cluster adds a series on the local Redis Cluster (scripts/cluster.sh run) after the
# single-Redis series: the same scenarios, the same run.
REDIS_MODES = ["single"] + (["cluster"] if os.environ.get("REDIS_MODE") == "cluster" else [])
CLUSTER_SCENARIOS = ["queue_enter", "queue_poll", "hold_distinct"]
current_mode = "single"


def redis_cli(*arguments):
    """redis-cli against the stack's Redis: the single server, or the cluster following MOVED (-c)."""
    target = ["-c", "-p", CLUSTER_PORT] if current_mode == "cluster" else ["-p", REDIS_PORT]
    return run(["redis-cli", *target, *arguments], capture=True)


def event_lag(since_ms, types):
    """Commit-to-stream lag of the outbox events of `types` appended since `since_ms`: the stream
    entry's id is Redis's clock when the relay appended it, `createdAt` PostgreSQL's at the insert
    (one machine, one clock). Returns {events, p50_ms, p99_ms, max_ms}."""
    lines = redis_cli("--raw", "XRANGE", "bo:events", str(int(since_ms)), "+").stdout.splitlines()
    lags = []
    index = 0
    while index + 8 < len(lines) + 1:
        entry_id, fields = lines[index], lines[index + 1:index + 9]
        index += 9
        values = dict(zip(fields[0::2], fields[1::2]))
        if values.get("type") not in types or "createdAt" not in values:
            continue
        created = datetime.datetime.fromisoformat(values["createdAt"].replace("Z", "+00:00")).timestamp() * 1000
        lags.append(int(entry_id.split("-")[0]) - created)
    lags.sort()
    pick = lambda q: round(lags[min(len(lags) - 1, int(q * len(lags)))], 1) if lags else None
    return {"events": len(lags), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": round(lags[-1], 1) if lags else None}


def scenario_queue_enter():
    concert = bench_concert(1)
    return wrk("queue_enter.lua", path="/v1/queue/tokens", env={"BENCH_CONCERT": str(concert)})


def scenario_queue_enter_pow(count):
    """queue_enter with a proof of work at difficulty 1 (a nonce in two tries, so the client's
    work is nil): what is left is the server's check of each proof (one HMAC, one SHA-256, one SET
    NX in Redis), against queue_enter of the same run. `count` challenges are fetched and solved
    first, each sent once."""
    concert = bench_concert(1)
    redis_cli("HSET", f"bo:{{c:{concert}}}:settings", "powDifficulty", "1")
    time.sleep(1.1)  # an instance reads a concert's settings at most a second late

    def solved(_):
        status, body = call("GET", f"/v1/queue/challenge?concertId={concert}")
        if status != 200 or body["difficulty"] != 1:
            raise SystemExit(f"challenge failed: {status} {body}")
        nonce = next(n for n in itertools.count() if hashlib.sha256(f"{body['challenge']}:{n}".encode()).digest()[0] < 0x80)
        return f"{concert} {uuid.uuid4()} {body['challenge']} {nonce}"

    prepared = parallel(solved, range(count), workers=32)
    with tempfile.NamedTemporaryFile("w", delete=False) as handle:
        handle.write("\n".join(prepared))
    return wrk("once_each.lua", path="/v1/queue/tokens", env={"BENCH_ITEMS": handle.name, "BENCH_KIND": "proof"})


def waiting_tokens(count, line=None):
    """`count` tokens waiting in a paused line of `line` waiters (default `count`), spread evenly
    along it, in a file for wrk and storm.py. Paused, so positions are real; at a real on-sale's
    100 admissions/s, which decides how much of the front asks Redis at every poll (the first 300
    places; the rest is answered from the instances' snapshots)."""
    concert = bench_concert(1)
    redis_cli("HSET", f"bo:{{c:{concert}}}:settings", "paused", "1", "admitPerSecond", "100")
    tokens = parallel(lambda _: take_token(concert), range(line or count), workers=64)
    with tempfile.NamedTemporaryFile("w", delete=False) as handle:
        handle.write("\n".join(tokens[:: max(1, len(tokens) // count)][:count]))
    return handle.name


LONG_LINE = int(os.environ.get("BENCH_LONG_LINE", "100000"))


def scenario_queue_poll(line=None):
    return wrk("queue_poll.lua", path="/v1/queue/status", env={"BENCH_ITEMS": waiting_tokens(2000, line)})


STORM = int(os.environ.get("BENCH_STORM", "5000"))
API_BASE_PORT = int(os.environ.get("API_BASE_PORT", "8081"))


STATIC_HAPROXY = """global
    maxconn 8000
defaults
    mode http
    timeout client 30s
    timeout connect 5s
    timeout server 30s
frontend static
    bind 127.0.0.1:{port}
    http-request return status 200 content-type application/json string "{{\\"status\\":\\"WAITING\\"}}"
"""


def scenario_connection_storm():
    """New connections, each one poll (`Connection: close`). First the storm itself: BENCH_STORM
    (5,000) connections opened evenly within one second by bench/storm.py, every outcome counted
    (answered, refused, reset, timed out). Then the rate: wrk with 1,000 connections that reconnect
    after every answer, against a haproxy that answers by itself (the cost of a TCP handshake
    through haproxy, with wrk on the same cores) as the baseline."""
    tokens_file = waiting_tokens(500)
    before, start = cpu_snapshot(), time.monotonic()
    output = run([sys.executable, os.path.join(BENCH, "storm.py"), "127.0.0.1", str(LB_PORT), tokens_file, str(STORM), "1"],
                 capture=True).stdout
    storm = json.loads(output.strip().splitlines()[-1])
    storm["cpu"] = cpu_delta(before, start)
    log(f"  connection storm: {storm['answered']}/{STORM} answered {storm['outcomes']}, opened within "
        f"{storm['opened_within_s']} s, p50 {storm['p50_ms']} ms p99 {storm['p99_ms']} ms max {storm['max_ms']} ms")
    time.sleep(2)  # TIME_WAIT sockets and accept queues settle before the rate runs

    close = ["Connection: close"]
    reconnecting = wrk("queue_poll.lua", connections=1000, seconds=3, path="/v1/queue/status",
                       env={"BENCH_ITEMS": tokens_file}, headers=close)
    with tempfile.TemporaryDirectory() as directory:
        config = os.path.join(directory, "haproxy.cfg")
        with open(config, "w") as cfg:
            cfg.write(STATIC_HAPROXY.format(port=LB_PORT + 1000))
        static = subprocess.Popen(["haproxy", "-f", config])
        try:
            time.sleep(0.5)
            baseline = wrk("health.lua", connections=1000, seconds=3, base=f"http://127.0.0.1:{LB_PORT + 1000}", path="/",
                           headers=close)
        finally:
            static.terminate()
            static.wait()
    log(f"  new connection per poll: {reconnecting['rps']:.0f}/s (haproxy answering by itself: {baseline['rps']:.0f}/s)")
    return storm, reconnecting, baseline


def prepare_holds(count):
    concert = bench_concert((count + 49) // 50)
    status, body = call("GET", "/v1/concerts")
    tokens = parallel(lambda _: take_token(concert), range(count))
    wait_active(tokens)
    dates = [line for line in psql(DATABASE_URL, f"SELECT date FROM concert_dates WHERE concert_id = {concert} ORDER BY date").split()]
    lines = [f"{token} {concert} {dates[i // 50]} {i % 50 + 1}" for i, token in enumerate(tokens)]
    return concert, lines


def scenario_hold(count, connections=CONNECTIONS, threads=2, seconds=SECONDS):
    _, lines = prepare_holds(count)
    with tempfile.NamedTemporaryFile("w", delete=False) as handle:
        handle.write("\n".join(lines))
    return wrk("once_each.lua", path="/v1/reservations", connections=connections, threads=threads, seconds=seconds,
               env={"BENCH_ITEMS": handle.name, "BENCH_KIND": "hold"})


def scenario_payment(count):
    concert, lines = prepare_holds(count)

    def hold_and_charge(line):
        token, _, date, seat = line.split()
        status, body = call("POST", "/v1/reservations", {"concertId": concert, "date": date, "seatNumbers": [int(seat)]}, token=token)
        if status != 201:
            raise SystemExit(f"prepare hold failed: {status} {body}")
        status, charged = call("POST", "/v1/balance/charge", {"amount": body["amount"]}, token=token)
        if status != 200:
            raise SystemExit(f"prepare charge failed: {status} {charged}")
        return f"{token} {body['reservationId']}"

    prepared = parallel(hold_and_charge, lines)
    with tempfile.NamedTemporaryFile("w", delete=False) as handle:
        handle.write("\n".join(prepared))
    return wrk("once_each.lua", path="/v1/payments", env={"BENCH_ITEMS": handle.name, "BENCH_KIND": "pay"})


def scenario_outbox_cost(instances):
    """Holds and payments (as hold_distinct and payment) with the outbox off and on, in
    BENCH_OUTBOX_PAIRS pairs ordered off-on, on-off, off-on, ...: a drift of the machine over the run
    falls on both alike. Each block starts a fresh stack after VACUUM and CHECKPOINT, so that no
    block inherits another's dead rows or dirty pages. Off is `boxoffice.outbox = off` on the
    database (no event rows, so the relay idles); the instances' new connections take it up.
    Returns {"on": [...], "off": [...]}, in pair order."""
    blocks = {"on": [], "off": []}
    order = [setting for pair in range(OUTBOX_PAIRS) for setting in (("off", "on") if pair % 2 == 0 else ("on", "off"))]
    try:
        for setting in order:
            psql(SUPERUSER_URL, "ALTER DATABASE boxoffice SET boxoffice.outbox = 'off'" if setting == "off"
                 else "ALTER DATABASE boxoffice RESET boxoffice.outbox")
            psql(SUPERUSER_URL, "VACUUM ANALYZE")
            psql(SUPERUSER_URL, "CHECKPOINT")
            start_stack(instances)
            quiet_database()
            block = {"hold": scenario_hold(HOLDS), "payment": scenario_payment(PAYMENTS)}
            blocks[setting].append(block)
            log(f"  outbox {setting}: " + ", ".join(
                f"{name}s {block[name]['rps']:.0f}/s ({server_cpu_ms(block[name]):.2f} ms CPU each: "
                + " ".join(f"{group} {block[name]['cpu'].get(group, 0) / block[name]['rps'] * 1000:.2f}" for group in SERVER_GROUPS)
                + f"; {block[name]['database']['wal_bytes'] / block[name]['requests']:.0f} WAL bytes each, "
                f"{block[name]['database']['autovacuums']} autovacuum runs)" for name in ("hold", "payment")))
    finally:
        psql(SUPERUSER_URL, "ALTER DATABASE boxoffice RESET boxoffice.outbox")
        start_stack(instances)
    return blocks


SERVER_GROUPS = ("boxoffice", "postgres", "redis", "haproxy")


def server_cpu_ms(result):
    """CPU milliseconds the servers (instances, PostgreSQL, Redis, haproxy) spent per request of a
    wrk run: what a request costs the system. On a saturated machine it moves with the rate (the
    cores are busy either way); the block's `cpu` says which program the difference is in."""
    return sum(result["cpu"].get(group, 0) for group in SERVER_GROUPS) / result["rps"] * 1000 if result["rps"] else 0


def mean_result(results):
    """The mean rate, latencies and errors of several runs of one scenario."""
    return {key: sum(r[key] for r in results) / len(results) for key in ("rps", "p50_ms", "p99_ms", "errors")}


def scenario_hot_seat():
    concert = bench_concert(1)
    metrics, code = k6("hot-seat.js", {"BASE_URL": BASE, "CONCERT_ID": concert, "USERS": 1000, "P99_MS": 60000})
    trend = metrics.get("http_req_duration{name:POST /v1/reservations}", {})
    iterations = metrics.get("wins", {}).get("count", 0) + metrics.get("seat_conflicts", {}).get("count", 0)
    return {"rps": iterations / max(trend.get("max", 1) / 1000, 1e-3), "p50_ms": trend.get("med", 0),
            "p99_ms": trend.get("p(99)", 0), "errors": metrics.get("server_errors", {}).get("count", 0)
            + metrics.get("unexpected_answers", {}).get("count", 0), "wins": metrics.get("wins", {}).get("count", 0),
            "k6_exit": code, "cpu": metrics["_cpu"]}


def scenario_rush():
    concert = bench_concert(20)
    metrics, code = k6("rush.js", {"BASE_URL": BASE, "CONCERT_ID": concert, "USERS": 300, "P99_MS": 60000})
    requests = metrics.get("http_reqs", {})
    duration = metrics.get("http_req_duration", {})
    return {"rps": requests.get("rate", 0), "p50_ms": duration.get("med", 0), "p99_ms": duration.get("p(99)", 0),
            "errors": metrics.get("server_errors", {}).get("count", 0), "k6_exit": code, "cpu": metrics["_cpu"]}


# --- orchestration ------------------------------------------------------------------------------

STREAMS = int(os.environ.get("BENCH_STREAMS", "2000"))
API_BASE_PORT = int(os.environ.get("API_BASE_PORT", "8081"))


def redis_calls():
    """(scripts run, commands run): EVALSHA/EVAL calls, and every command including those the
    scripts run inside (a queue-status script is about 8)."""
    info = run(["redis-cli", "-p", REDIS_PORT, "INFO", "all"], capture=True).stdout
    scripts = sum(int(m) for m in re.findall(r"cmdstat_(?:evalsha|eval):calls=(\d+)", info))
    return scripts, int(re.search(r"total_commands_processed:(\d+)", info).group(1))


def redis_rate(seconds):
    """Redis scripts and commands per second over an idle window (only the promoters and the open
    streams run)."""
    before, start = redis_calls(), time.monotonic()
    time.sleep(seconds)
    after, elapsed = redis_calls(), time.monotonic() - start
    return {"scripts_per_s": round((after[0] - before[0]) / elapsed, 1), "commands_per_s": round((after[1] - before[1]) / elapsed, 1)}


class EventStreams:
    """STREAMS open `GET /v1/queue/events` connections to api-1 (not through haproxy: one
    instance carries them all), read on one asyncio loop in a thread; counts what arrives."""

    def __init__(self, tokens):
        import asyncio
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, len(tokens) + 1024)), hard))
        self.tokens, self.asyncio = tokens, asyncio
        self.opened = self.events = self.heartbeats = self.ended = 0
        self.loop = asyncio.new_event_loop()
        self.stop = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.main(),), daemon=True)

    async def one(self, token):
        reader, writer = await self.asyncio.open_connection("127.0.0.1", API_BASE_PORT)
        writer.write(f"GET /v1/queue/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        first = True
        try:
            while not self.stop.is_set():
                line = await reader.readline()
                if not line:
                    self.ended += 1
                    break
                if line.startswith(b"event: status"):
                    self.events += 1
                    if first:
                        first = False
                        self.opened += 1
                elif line.startswith(b": heartbeat"):
                    self.heartbeats += 1
        finally:
            writer.close()

    async def main(self):
        self.stop = self.asyncio.Event()
        tasks = []
        for token in self.tokens:
            tasks.append(self.asyncio.create_task(self.one(token)))
            await self.asyncio.sleep(0)
        await self.stop.wait()
        for task in tasks:
            task.cancel()
        await self.asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while self.opened < len(self.tokens) and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.opened < len(self.tokens):
            raise SystemExit(f"only {self.opened} of {len(self.tokens)} event streams opened")
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


def scenario_event_streams():
    """Redis commands/s and other users' poll p99, without and then with STREAMS open event
    streams on one instance. The streams wait in a paused line at 50 admissions/s (a real
    on-sale pace), so each is told a pollAfterSeconds by its position; `polling_equivalent` is
    what the same waiters would cost Redis polling at that pace (one script per poll)."""
    concert = bench_concert(1)
    redis_cli("HSET", f"bo:{{c:{concert}}}:settings", "paused", "1", "admitPerSecond", "50")
    bodies = parallel(lambda _: call("POST", "/v1/queue/tokens", {"userId": str(uuid.uuid4()), "concertId": concert})[1], range(STREAMS))
    polling_equivalent = sum(1 / body["pollAfterSeconds"] for body in bodies)
    poller_concert = bench_concert(1)
    redis_cli("HSET", f"bo:{{c:{poller_concert}}}:settings", "paused", "1")
    pollers = parallel(lambda _: take_token(poller_concert), range(2000))
    with tempfile.NamedTemporaryFile("w", delete=False) as handle:
        handle.write("\n".join(pollers))
    poll = lambda: wrk("queue_poll.lua", path="/v1/queue/status", env={"BENCH_ITEMS": handle.name})

    result = {"streams": STREAMS, "polling_equivalent_scripts_per_s": round(polling_equivalent, 1)}
    result["without"] = {"redis": redis_rate(SECONDS), "poll": poll()}
    with EventStreams([body["token"] for body in bodies]) as streams:
        result["with"] = {"redis": redis_rate(SECONDS), "poll": poll()}
        result["stream_items"] = {"events": streams.events, "heartbeats": streams.heartbeats, "ended": streams.ended}
    without, with_ = result["without"], result["with"]
    log(f"  event streams: Redis scripts {without['redis']['scripts_per_s']}/s without, {with_['redis']['scripts_per_s']}/s with "
        f"{STREAMS} streams (polling them would be {polling_equivalent:.0f}/s); poll p99 "
        f"{without['poll']['p99_ms']:.2f} -> {with_['poll']['p99_ms']:.2f} ms")
    return result


def start_stack(instances, mode="single", pg_mode="single"):
    global current_mode
    log(f"starting the stack with {instances} instance(s) on {'the Redis Cluster' if mode == 'cluster' else 'one Redis'}"
        f" and {'PostgreSQL under Patroni' if pg_mode == 'ha' else 'one PostgreSQL'}")
    run([os.path.join(ROOT, "scripts", "run.sh"), "start"],
        env=dict(STACK_SETTINGS, INSTANCES=str(instances), BOXOFFICE_BIN=BIN, SKIP_BUILD="1", REDIS_MODE=mode, PG_MODE=pg_mode))
    current_mode = mode


PG_MODES = ["single"] + (["ha"] if os.environ.get("PG_MODE") == "ha" else [])


def ha_series(single_rows, baselines):
    """pgbench simple-update, hold_distinct and payment with 2 instances on PostgreSQL under
    Patroni (synchronous replication), each against the same on one PostgreSQL in this run: what
    a commit on two nodes costs. Returns the rows and the `boxoffice check` report of the HA database."""
    global DATABASE_URL
    start_stack(2, pg_mode="ha")
    DATABASE_URL = run([os.path.join(ROOT, "scripts", "patroni.sh"), "run", "url"], capture=True).stdout.strip()
    pgbench_url = DATABASE_URL.replace("/boxoffice?", f"/{PGBENCH_DB}?")
    psql(DATABASE_URL, f"DROP DATABASE IF EXISTS {PGBENCH_DB}")
    psql(DATABASE_URL, f"CREATE DATABASE {PGBENCH_DB}")
    log("scenarios with 2 instances on PostgreSQL under Patroni")
    rows = [row("simple-update", pgbench_simple_update(pgbench_url), "same on one PostgreSQL", baselines["pgbench simple-update"])]
    single = {r["name"]: r for r in single_rows}
    for name, scenario in (("hold_distinct", lambda: scenario_hold(HOLDS)), ("payment", lambda: scenario_payment(PAYMENTS))):
        if ONLY and name not in ONLY:
            continue
        rows.append(row(name, scenario(), "same scenario on one PostgreSQL", single.get(name)))
    print_table("2 instances on PostgreSQL under Patroni (ratio: to the same on one PostgreSQL, this run)", rows)
    check = run([BIN, "check"], env={"DATABASE_URL": DATABASE_URL, "LOG_LEVEL": "warning"}, capture=True, check=False)
    return rows, json.loads(check.stdout.strip().splitlines()[-1]), check.returncode


def prepare_pgbench_database():
    log("preparing the pgbench baseline database")
    # As the superuser: FORCE must also end an autovacuum worker still busy in the last run's data.
    psql(SUPERUSER_URL, f"DROP DATABASE IF EXISTS {PGBENCH_DB} WITH (FORCE)")
    psql(DATABASE_URL, f"CREATE DATABASE {PGBENCH_DB}")
    run([BIN, "migrate"], env={"DATABASE_URL": PGBENCH_URL, "LOG_LEVEL": "warning"}, capture=True)
    # Enough distinct seats and held reservations for pgbench at full speed for the whole run.
    capacity = SECONDS * 6000
    psql(PGBENCH_URL, file="pgbench/setup.sql", variables={"concert": 7_000_000, "dates": capacity // 50, "targets": capacity})


SUPERUSER_URL = f"postgres://postgres@127.0.0.1:{PG_PORT}/boxoffice"  # trust auth on loopback (local stack)


def quiet_redis():
    """Switches RDB snapshots off for the run (a fork of a large dataset mid-scenario skews every
    figure); returns the previous setting for restore_redis()."""
    previous = run(["redis-cli", "-p", REDIS_PORT, "CONFIG", "GET", "save"], capture=True).stdout.splitlines()[1:]
    run(["redis-cli", "-p", REDIS_PORT, "CONFIG", "SET", "save", ""], capture=True)
    return previous[0] if previous else ""


def restore_redis(save):
    """Removes the bench concerts' queue keys and restores the snapshot setting."""
    ports = [REDIS_PORT] + ([str(int(CLUSTER_PORT) + i) for i in range(6)] if "cluster" in REDIS_MODES else [])
    for concert in CREATED_CONCERTS:
        for port in ports:  # a concert's keys share one slot, so each UNLINK batch is single-slot
            subprocess.run(f"redis-cli -p {port} --scan --pattern 'bo:{{c:{concert}}}:*' | xargs -r -n 1000 redis-cli -c -p {port} UNLINK > /dev/null",
                           shell=True, check=False)
    run(["redis-cli", "-p", REDIS_PORT, "CONFIG", "SET", "save", save], capture=True)


def reset_profiles():
    psql(SUPERUSER_URL, "SELECT pg_stat_statements_reset()")
    run(["redis-cli", "-p", REDIS_PORT, "CONFIG", "RESETSTAT"], capture=True)


def profiles():
    """Top statements by total time, and Redis command statistics, since reset_profiles()."""
    statements = psql(SUPERUSER_URL, """
        SELECT calls || ' | ' || round(total_exec_time) || ' | ' || round(mean_exec_time::numeric, 3) || ' | ' ||
               regexp_replace(left(query, 110), '\\s+', ' ', 'g')
        FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'boxoffice')
        ORDER BY total_exec_time DESC LIMIT 12""").strip().splitlines()
    commands = [line for line in run(["redis-cli", "-p", REDIS_PORT, "INFO", "commandstats"], capture=True).stdout.splitlines()
                if line.startswith("cmdstat_")]
    return {"pg_stat_statements (calls | total ms | mean ms | query)": statements, "redis commandstats": commands}


def row(name, result, baseline_name, baseline, yardstick=None):
    ratio = result["rps"] / baseline["rps"] if baseline and baseline["rps"] else None
    return {"name": name, "rps": round(result["rps"], 1), "p50_ms": round(result["p50_ms"], 3),
            "p99_ms": round(result["p99_ms"], 3), "errors": int(result["errors"]), "baseline": baseline_name,
            "baseline_rps": round(baseline["rps"], 1) if baseline else None,
            "ratio": round(ratio, 3) if ratio is not None else None, "cpu_cores": result.get("cpu", {}),
            # Against pgbench's built-in simple-update, the fixed yardstick of issue 11.
            "ratio_simple_update": round(result["rps"] / yardstick["rps"], 3) if yardstick and yardstick["rps"] else None}


def print_table(title, rows):
    print(f"\n{title}")
    print(f"{'scenario':<18}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}  {'baseline':<26}{'base rps':>10}{'ratio':>8}{'/simple-upd':>12}  cores used")
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        base = f"{r['baseline_rps']:.0f}" if r["baseline_rps"] is not None else "-"
        cpu = " ".join(f"{k}={v}" for k, v in sorted(r["cpu_cores"].items(), key=lambda kv: -kv[1]))
        simple = f"{r['ratio_simple_update']:.2f}" if r.get("ratio_simple_update") is not None else "-"
        print(f"{r['name']:<18}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['errors']:>8}  {r['baseline'] or '-':<26}{base:>10}{ratio:>8}{simple:>12}  {cpu}")


def main():
    if not os.access(BIN, os.X_OK):
        raise SystemExit(f"no release binary at {BIN}; run `swift build -c release --product boxoffice` (make bench does)")
    start_stack(INSTANCE_SERIES[0])
    saved = quiet_redis()
    prepare_pgbench_database()

    reset_profiles()
    log("baselines: redis-benchmark queue-status script, pgbench hold and payment (wrk /health/live per instance count)")
    baselines = {
        "redis-benchmark queue-status": redis_benchmark_poll(),
        "pgbench hold": pgbench("hold.sql", variables={"concert": 7_000_000}),
        "pgbench payment": pgbench("pay.sql", variables={"concert": 7_000_000}),
        "pgbench simple-update": pgbench_simple_update(),
    }
    for name, result in baselines.items():
        log(f"  {name}: {result['rps']:.0f}/s p99 {result['p99_ms']:.2f} ms cores {result.get('cpu', {})}")

    series = {}
    event_streams = None
    for instances in INSTANCE_SERIES:
        if instances != INSTANCE_SERIES[0]:
            start_stack(instances)
        log(f"scenarios with {instances} instance(s)")
        # The HTTP baseline is taken on this very stack: with N instances sharing two cores, even an
        # empty request costs more than with one.
        health = wrk("health.lua")
        baselines[f"wrk /health/live ({instances} instance(s))"] = health
        log(f"  wrk /health/live: {health['rps']:.0f}/s p99 {health['p99_ms']:.2f} ms cores {health.get('cpu', {})}")
        wanted = lambda name: not ONLY or name in ONLY
        rows = []
        enter = None
        if wanted("queue_enter") or wanted("queue_enter_pow"):
            enter = scenario_queue_enter()
            rows.append(row("queue_enter", enter, "wrk /health/live", health))
        if wanted("queue_enter_pow"):
            rows.append(row("queue_enter_pow", scenario_queue_enter_pow(POW_TOKENS), "queue_enter", enter))
        if wanted("queue_poll"):
            rows.append(row("queue_poll", scenario_queue_poll(), "wrk /health/live", health))
        if wanted("queue_poll_long"):
            rows.append(row("queue_poll_long", scenario_queue_poll(LONG_LINE), "wrk /health/live", health))
        # What the outbox costs, in this run: holds and payments first with the outbox off (a session
        # setting the event inserts honour; the instances restart to pick it up), then, below, on.
        outbox_blocks = None
        if wanted("outbox_cost") and instances == INSTANCE_SERIES[0]:
            outbox_blocks = scenario_outbox_cost(instances)
        if wanted("hold_distinct"):
            started = time.time() * 1000
            rows.append(row("hold_distinct", scenario_hold(HOLDS), "pgbench hold", baselines["pgbench hold"],
                            baselines["pgbench simple-update"]))
            time.sleep(2)  # the relay's last rounds
            rows[-1]["event_lag"] = event_lag(started, {"reservation.held"})
            log(f"  events: commit to stream {rows[-1]['event_lag']}")
        uncontended = None
        if wanted("hold_uncontended") or wanted("hot_seat_1000"):
            uncontended = scenario_hold(4000, connections=1, threads=1, seconds=3)
            rows.append(row("hold_uncontended", uncontended, None, None))
        if wanted("payment"):
            started = time.time() * 1000
            rows.append(row("payment", scenario_payment(PAYMENTS), "pgbench payment", baselines["pgbench payment"],
                            baselines["pgbench simple-update"]))
            time.sleep(2)
            rows[-1]["event_lag"] = event_lag(started, {"order.paid"})
            log(f"  events: commit to stream {rows[-1]['event_lag']}")
        if outbox_blocks:
            for name in ("hold", "payment"):
                on, off = (mean_result([block[name] for block in outbox_blocks[setting]]) for setting in ("on", "off"))
                # Ratio: with the outbox to without it (1.0: free; 0.9: it costs 10%), of the means;
                # each pair's own ratio too, and their median (the figure a drifting machine disturbs least).
                cost = row(f"{name}_outbox_cost", on, "same, outbox off", off)
                cost["blocks"] = {setting: [round(block[name]["rps"]) for block in blocks] for setting, blocks in outbox_blocks.items()}
                pairs = sorted(round(a / b, 3) for a, b in zip(cost["blocks"]["on"], cost["blocks"]["off"]) if b)
                cost["pair_ratios"] = pairs
                cost["median_pair_ratio"] = pairs[len(pairs) // 2] if pairs else None
                cpu = {setting: [round(server_cpu_ms(block[name]), 3) for block in blocks] for setting, blocks in outbox_blocks.items()}
                cost["server_cpu_ms"] = cpu
                cost["cpu_ratio"] = round(sum(cpu["on"]) / sum(cpu["off"]), 3) if sum(cpu["off"]) else None
                log(f"  {name}s with/without the outbox: pairs {pairs}, median {cost['median_pair_ratio']}; "
                    f"server CPU per {name} {cpu['on']} / {cpu['off']} ms, on/off {cost['cpu_ratio']}")
                rows.append(cost)
        if wanted("hot_seat_1000"):
            hot = scenario_hot_seat()
            hot_row = row("hot_seat_1000", hot, None, None)
            # The hot seat is judged on latency: its p99 against an uncontended hold's p99.
            hot_row.update(baseline="hold_uncontended p99", baseline_rps=None,
                           ratio=round(hot["p99_ms"] / uncontended["p99_ms"], 2) if uncontended["p99_ms"] else None,
                           wins=int(hot.get("wins", 0)))
            rows.append(hot_row)
        if wanted("rush"):
            rows.append(row("rush", scenario_rush(), None, None))
        if wanted("connection_storm"):
            storm, reconnecting, static = scenario_connection_storm()
            storm_row = row("connection_storm", {"rps": storm["answered"] / max(storm["opened_within_s"], 1e-3),
                                                 "p50_ms": storm["p50_ms"] or 0, "p99_ms": storm["p99_ms"] or 0,
                                                 "errors": storm["connections"] - storm["outcomes"].get("200", 0),
                                                 "cpu": storm["cpu"]}, None, None)
            storm_row.update(storm=storm, max_ms=storm["max_ms"])
            rows.append(storm_row)
            rows.append(row("new_conn_poll", reconnecting, "haproxy alone, new conns", static))
        if wanted("event_streams") and instances == INSTANCE_SERIES[0]:
            streams = scenario_event_streams()
            event_streams = streams
            with_streams = row("poll_with_streams", streams["with"]["poll"], "poll without streams", streams["without"]["poll"])
            with_streams.update(redis_with_streams=streams["with"]["redis"], redis_without_streams=streams["without"]["redis"],
                                polling_equivalent_scripts_per_s=streams["polling_equivalent_scripts_per_s"])
            rows.append(with_streams)
        series[instances] = rows
        print_table(f"{instances} instance(s)", rows)

    cluster_rows = None
    if "cluster" in REDIS_MODES:
        start_stack(2, "cluster")
        log("scenarios with 2 instances on the Redis Cluster")
        health = wrk("health.lua")
        single = {r["name"]: r for r in series.get(2, series[INSTANCE_SERIES[0]])}
        cluster_rows = []
        for name, scenario in (("queue_enter", scenario_queue_enter), ("queue_poll", scenario_queue_poll),
                               ("hold_distinct", lambda: scenario_hold(HOLDS))):
            if ONLY and name not in ONLY:
                continue
            result = row(name, scenario(), "same scenario on one Redis", single.get(name))
            result["health_rps"] = round(health["rps"], 1)
            cluster_rows.append(result)
        print_table("2 instances on the Redis Cluster (ratio: to the same scenario on one Redis, this run)", cluster_rows)

    log("correctness: boxoffice check")
    check = run([BIN, "check"], env={"DATABASE_URL": DATABASE_URL, "LOG_LEVEL": "warning"}, capture=True, check=False)
    report = json.loads(check.stdout.strip().splitlines()[-1])
    correctness = {"double_sold": report["doubleSold"], "money_conserved": report["moneyConserved"], "report": report}
    main_instances = 2 if 2 in series else INSTANCE_SERIES[0]
    # Read before the HA series stops the single PostgreSQL.
    profile = profiles()
    ha_rows = None
    if "ha" in PG_MODES:
        ha_rows, ha_report, ha_check = ha_series(series[main_instances], baselines)
        correctness["ha_report"] = ha_report
        if ha_check != 0 or not ha_report["moneyConserved"] or ha_report["doubleSold"]:
            check = subprocess.CompletedProcess(args=[], returncode=ha_check or 1)
    results = {
        "scenarios": series[main_instances],
        "correctness": correctness,
        "instances": main_instances,
        "baselines": {name: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for name, r in baselines.items()},
        "scaling": {str(n): rows for n, rows in series.items()},
        "event_streams": event_streams,
        "redis_cluster": cluster_rows,
        "postgres_ha": ha_rows,
        "profile": profile,
        "settings": {"seconds": SECONDS, "connections": CONNECTIONS, "holds": HOLDS, "payments": PAYMENTS,
                     "machine": f"{os.cpu_count()} cores", "stack": STACK_SETTINGS},
    }
    restore_redis(saved)
    # A partial run (BENCH_SCENARIOS) does not replace the full run's figures.
    output = os.path.join(BENCH, "results.partial.json" if ONLY else "results.json")
    with open(output, "w") as handle:
        json.dump(results, handle, indent=2)
    print(f"\ncorrectness: double_sold={correctness['double_sold']} money_conserved={correctness['money_conserved']}")
    print(f"wrote {output}")
    if check.returncode != 0:
        raise SystemExit("invariant check failed")


if __name__ == "__main__":
    main()
