#!/usr/bin/env python3
"""Connection storm (issue 11): COUNT new TCP connections opened evenly within SPREAD seconds, each
sending one queue poll (`GET /v1/queue/status`, `Connection: close`) and reading the answer.

    python3 bench/storm.py HOST PORT TOKENS_FILE [COUNT=5000] [SPREAD=1.0]

Prints one JSON line: how many were answered (by status), refused, reset, timed out or failed
otherwise, the latency from connect() to the last byte (p50/p99/max), and over how long the
connects were actually issued (the generator shares the cores with the server; `opened_within_s`
says whether it kept the pace). Python standard library only; runs in its own process so that its
event loop competes with nothing else of the bench script.
"""
import asyncio
import json
import resource
import sys
import time

TIMEOUT_SECONDS = 30


async def one(host, port, token, start_at, outcomes, latencies):
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    began = time.monotonic()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT_SECONDS)
        writer.write(f"GET /v1/queue/status HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                     "Connection: close\r\n\r\n".encode())
        response = await asyncio.wait_for(reader.read(), TIMEOUT_SECONDS)
        status = response.split(b" ", 2)[1].decode() if response.startswith(b"HTTP/1.") else "garbled"
        outcomes[status] = outcomes.get(status, 0) + 1
        latencies.append(time.monotonic() - began)
        return began
    except ConnectionRefusedError:
        outcomes["refused"] = outcomes.get("refused", 0) + 1
    except ConnectionResetError:
        outcomes["reset"] = outcomes.get("reset", 0) + 1
    except asyncio.TimeoutError:
        outcomes["timeout"] = outcomes.get("timeout", 0) + 1
    except OSError as error:
        outcomes[f"oserror {error.errno}"] = outcomes.get(f"oserror {error.errno}", 0) + 1
    finally:
        if writer is not None:
            writer.close()
    return began


async def storm(host, port, tokens, count, spread):
    outcomes, latencies = {}, []
    start = time.monotonic() + 0.2
    began = await asyncio.gather(*(one(host, port, tokens[i % len(tokens)], start + spread * i / count, outcomes, latencies)
                                   for i in range(count)))
    latencies.sort()
    quantile = lambda q: round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None
    return {"connections": count, "spread_s": spread, "opened_within_s": round(max(began) - min(began), 3),
            "answered": len(latencies), "outcomes": outcomes,
            "p50_ms": quantile(0.50), "p99_ms": quantile(0.99), "max_ms": round(1000 * latencies[-1], 1) if latencies else None}


def main():
    host, port, tokens_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 5000
    spread = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 1000)), hard))
    with open(tokens_file) as handle:
        tokens = handle.read().split()
    print(json.dumps(asyncio.run(storm(host, port, tokens, count, spread))))


if __name__ == "__main__":
    main()
