#!/usr/bin/env python3
"""Recomputes a presale's draw from what BoxOffice publishes, so a fan or an auditor needs to trust
nobody: the presale shape (GET /v1/concerts/{id}/presale, with `seed` revealed after the draw)
and the registration list (GET /v1/admin/concerts/{id}/presale/registrations, which the operator
publishes). Checks that SHA-256 of the seed's 32 bytes is the `seedCommitment` published before
registration closed, then ranks every registered user id by HMAC-SHA256(key: the seed's bytes,
message: the lowercase user id), compared as byte strings, and prints the `winners` smallest.

    scripts/verify-draw.py presale.json registrations.json [--check winners.txt]

Prints {"commitmentMatches": true, "winners": [...]} as JSON. Exit status 1 when the seed is not
revealed yet or does not match its commitment, or when --check's list (one user id per line, any
order) is not exactly the recomputed winners.
"""

import argparse
import hashlib
import hmac
import json
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presale")
    parser.add_argument("registrations")
    parser.add_argument("--check", help="a file of announced winners to compare with")
    args = parser.parse_args()
    presale = json.load(open(args.presale))
    users = [user.lower() for user in json.load(open(args.registrations))["userIds"]]
    if not presale.get("seed"):
        print("the seed is not revealed yet: the draw has not run", file=sys.stderr)
        return 1
    seed = bytes.fromhex(presale["seed"])
    matches = hashlib.sha256(seed).hexdigest() == presale["seedCommitment"].lower()
    ranked = sorted(users, key=lambda user: hmac.new(seed, user.encode(), hashlib.sha256).digest())
    winners = ranked[: presale["winners"]]
    print(json.dumps({"commitmentMatches": matches, "winners": winners}))
    if not matches:
        print("the seed does not match the commitment published before the draw", file=sys.stderr)
        return 1
    if args.check:
        announced = {line.strip().lower() for line in open(args.check) if line.strip()}
        if announced != set(winners):
            print(f"the announced winners differ: {len(announced - set(winners))} not drawn, {len(set(winners) - announced)} drawn but missing",
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
