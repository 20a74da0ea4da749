#!/usr/bin/env python3
"""Recomputes BoxOffice's seeded draws from what it publishes, so a fan or an auditor needs to trust
nobody. Both draws commit to a 32-byte seed before anyone takes part (only its SHA-256 is public)
and reveal it afterwards; a user's ticket is HMAC-SHA256(key: the seed's bytes, message: the
lowercase user id), compared as byte strings.

    scripts/verify-draw.py presale presale.json registrations.json [--check winners.txt]
        presale.json: GET /v1/concerts/{id}/presale (after the draw); registrations.json: GET
        /v1/admin/concerts/{id}/presale/registrations. Prints the winners: the `winners` smallest
        tickets. --check: a file of announced winners (one id per line) that must be exactly those.

    scripts/verify-draw.py opening opening.json arrivals.json
        opening.json: GET /v1/concerts/{id}/opening (after the opening); arrivals.json: GET
        /v1/admin/concerts/{id}/opening/arrivals. Checks that, within each shard of the line,
        whoever was admitted earlier holds the smaller ticket (fans admitted in the same tick may
        come in any order among themselves), and prints the order the seed gives.

Prints JSON; exit status 1 when the seed is not revealed yet, does not match its commitment, or a
check fails.
"""

import argparse
import hashlib
import hmac
import json
import sys


def ticket(seed, user):
    return hmac.new(seed, user.lower().encode(), hashlib.sha256).digest()


def revealed_seed(published):
    if not published.get("seed"):
        sys.exit("the seed is not revealed yet")
    seed = bytes.fromhex(published["seed"])
    if hashlib.sha256(seed).hexdigest() != published["seedCommitment"].lower():
        print(json.dumps({"commitmentMatches": False}))
        sys.exit("the seed does not match the commitment published before the draw")
    return seed


def presale(args):
    seed = revealed_seed(json.load(open(args.published)))
    winners_count = json.load(open(args.published))["winners"]
    users = [user.lower() for user in json.load(open(args.entries))["userIds"]]
    winners = sorted(users, key=lambda user: ticket(seed, user))[:winners_count]
    print(json.dumps({"commitmentMatches": True, "winners": winners}))
    if args.check:
        announced = {line.strip().lower() for line in open(args.check) if line.strip()}
        if announced != set(winners):
            print(f"the announced winners differ: {len(announced - set(winners))} not drawn, {len(set(winners) - announced)} drawn but missing",
                  file=sys.stderr)
            return 1
    return 0


def opening(args):
    seed = revealed_seed(json.load(open(args.published)))
    arrivals = json.load(open(args.entries))["arrivals"]
    out_of_order = 0
    for shard in sorted({a["shard"] for a in arrivals}):
        admitted = sorted((a["admittedAt"], ticket(seed, a["userId"])) for a in arrivals if a["shard"] == shard and a["admittedAt"] is not None)
        # Group by admission time: every ticket of an earlier group must be below every later one.
        highest_before = None
        index = 0
        while index < len(admitted):
            group = [t for at, t in admitted if at == admitted[index][0]]
            if highest_before is not None and min(group) < highest_before:
                out_of_order += 1
            highest_before = max(group + ([highest_before] if highest_before else []))
            index += len(group)
    order = sorted(arrivals, key=lambda a: (a["shard"], ticket(seed, a["userId"])))
    print(json.dumps({"commitmentMatches": True, "arrivals": len(arrivals), "outOfOrder": out_of_order,
                      "order": [a["userId"] for a in order]}))
    return 1 if out_of_order else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="draw", required=True)
    for name in ("presale", "opening"):
        command = sub.add_parser(name)
        command.add_argument("published")
        command.add_argument("entries")
        if name == "presale":
            command.add_argument("--check", help="a file of announced winners to compare with")
    args = parser.parse_args()
    return presale(args) if args.draw == "presale" else opening(args)


if __name__ == "__main__":
    sys.exit(main())
