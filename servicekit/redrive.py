"""Re-drive parked messages: `python -m servicekit.redrive QUEUE [--limit N]` moves the
messages parked on QUEUE.dead back to QUEUE (e.g. reporting.from.intake), after the
cause of the failure has been fixed. `--list` only shows what is parked."""

from __future__ import annotations

import argparse
import os

import kombu


def redrive(amqp_uri: str, queue: str, limit: int | None = None) -> int:
    moved = 0
    with kombu.Connection(amqp_uri) as conn:
        channel = conn.channel()
        producer = kombu.Producer(channel)
        while limit is None or moved < limit:
            message = channel.basic_get(f"{queue}.dead", no_ack=False)
            if message is None:
                break
            headers = {k: v for k, v in (message.headers or {}).items()
                       if k not in ("x-attempts", "x-error")}
            producer.publish(message.body, routing_key=queue, exchange="",
                             content_type=message.content_type,
                             content_encoding=message.content_encoding,
                             headers=headers, delivery_mode=2)
            channel.basic_ack(message.delivery_tag)
            moved += 1
    return moved


def parked(amqp_uri: str, queue: str) -> list[dict]:
    """What is parked, without removing it: attempts and error of each message."""
    with kombu.Connection(amqp_uri) as conn:
        channel = conn.channel()
        seen, tags = [], []
        while (message := channel.basic_get(f"{queue}.dead", no_ack=False)) is not None:
            seen.append({"attempts": (message.headers or {}).get("x-attempts"),
                         "error": (message.headers or {}).get("x-error")})
            tags.append(message.delivery_tag)
        for tag in tags:
            channel.basic_reject(tag, requeue=True)
        return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("queue", help="the consumer queue, e.g. reporting.from.intake")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--list", action="store_true", help="show, do not move")
    args = parser.parse_args()
    uri = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    if args.list:
        for item in parked(uri, args.queue):
            print(item)
    else:
        print(f"re-drove {redrive(uri, args.queue, args.limit)} message(s) to {args.queue}")


if __name__ == "__main__":
    main()
