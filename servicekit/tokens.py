"""Issue a bearer token signed with $AUTH_SECRET:

    python -m servicekit.tokens --sub inv-1 --role investigator [--role supervisor]
                                [--ttl 8h] [--team customer-service]

prints the token (use it as `Authorization: Bearer <token>`)."""

from __future__ import annotations

import argparse
import re
import sys

from servicekit import auth

_TTL = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def ttl_seconds(text: str) -> int:
    """'90', '90s', '15m', '8h', '7d' -> seconds."""
    match = _TTL.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a positive number of seconds, or with "
                                         "s, m, h or d (e.g. 8h)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servicekit.tokens",
                                     description="Issue a bearer token signed with "
                                                 f"${auth.SECRET_ENV}.")
    parser.add_argument("--sub", required=True, help="staff id (the actor recorded)")
    parser.add_argument("--role", required=True, action="append", choices=auth.ROLES,
                        help="a role; repeat for several")
    parser.add_argument("--ttl", type=ttl_seconds, default=8 * 3600,
                        help="lifetime, e.g. 3600, 30m, 8h, 7d (default 8h)")
    parser.add_argument("--team", help="the team (investigators and supervisors; "
                                       "otherwise looked up in the roster)")
    args = parser.parse_args(argv)
    try:
        print(auth.issue(args.sub, args.role, args.ttl, team=args.team))
    except (auth.AuthConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
