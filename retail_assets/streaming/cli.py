"""``retail-assets outbox status|clear|purge|requeue-dead`` and ``retail-assets stream``.

``outbox status`` prints one JSON object (``pending``, ``leased``, ``sent``, ``dead``,
``oldest_pending_ts``, ``latest_sent_ts``, ``by_event_type``, ``dead_letters``, ``days``, plus
``source``: ``outbox`` when read from the database, ``snapshot`` while a stream run holds the file,
with ``stale``/``note`` when that snapshot is old or its writer is gone; ``corrupt`` (exit 1) when
the outbox file is damaged; and ``next_day``, ``blocked``, ``blocked_reason``: whether the stream can
generate its next day, and if not, why and the fix — the same sentence the sensor's skip reason gives).

``stream`` exits with one of ``EXIT_CODES`` so that scripts can tell "all sent" from "run me again"
from "a person must act".
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from retail_assets.config import DatasetSettings, HomeSettings, parse_stream_until
from retail_assets.streaming.drain import PACINGS
from retail_assets.streaming.sinks.factory import EVENTHUB_NAME_ENV, SINK_ENV, build_sink
from retail_assets.streaming.sinks.scrub import scrub

EXIT_CODES: tuple[tuple[int, str, str], ...] = (
    (0, "drained", "every open event was sent (and a day generated if one was due; see note)"),
    (2, "error", "a setting or argument is unusable; the message names it and the fix"),
    (3, "sink_failed", "the sink failed (nothing, or not everything, was sent); the events stay in the outbox"),
    (4, "limit", "stopped at --max-events / --max-seconds with events left: run it again"),
    (5, "waiting", "events wait for their retry back-off or are leased by another live run: run it again later"),
    (6, "blocked", "DEAD events block the next day: fix the sink, then `retail-assets outbox requeue-dead --yes`"),
    (7, "disk", "free disk under RETAIL_ASSETS_HOME is below the guard: no day was generated"),
)
"""``retail-assets stream`` exit codes: (code, name, meaning); documented in ``--help`` and the README."""
_CODE = {name: code for code, name, _ in EXIT_CODES}


class StreamCliError(RuntimeError):
    """A user-fixable CLI problem; printed as one line."""

    user_facing = True


def _status(args: argparse.Namespace) -> int:
    from retail_assets.streaming.policy import verdict_from_status
    from retail_assets.streaming.status import read_status

    home = HomeSettings.from_env()
    status = read_status(home.state_dir)
    if status["source"] != "corrupt":
        try:
            verdict = verdict_from_status(home, DatasetSettings.from_env(whole_day=False), status)
            status.update(
                next_day=verdict.next_day.isoformat(),
                blocked=verdict.needs_operator,
                blocked_reason=verdict.reason if verdict.needs_operator else None,
            )
        except Exception as exc:  # the counts must still be shown when the policy cannot be evaluated
            status.update(next_day=None, blocked=None, blocked_reason=f"could not evaluate the stream policy: {exc}")
    print(json.dumps(status, indent=2 if args.pretty else None, default=str))
    if status["source"] == "corrupt":  # the JSON for scripts, the diagnosis for the operator
        print(f"error: {status['error']}", file=sys.stderr)
        return 1
    return 0


def _clear(args: argparse.Namespace) -> int:
    from retail_assets.streaming.outbox import Outbox

    if not args.yes:
        raise StreamCliError(
            "`outbox clear` deletes every event in the outbox, sent or not; add --yes to confirm."
        )
    n = Outbox.in_state_dir(HomeSettings.from_env().state_dir).clear()
    print(json.dumps({"cleared": n}))
    return 0


def _purge(args: argparse.Namespace) -> int:
    from retail_assets.streaming.outbox import Outbox

    n = Outbox.in_state_dir(HomeSettings.from_env().state_dir).purge_sent(timedelta(days=args.older_than_days))
    print(json.dumps({"purged_sent": n, "older_than_days": args.older_than_days}))
    return 0


def _requeue_dead(args: argparse.Namespace) -> int:
    from retail_assets.contract.events import EVENT_TYPES
    from retail_assets.streaming.outbox import Outbox

    if args.event_type is not None and args.event_type not in EVENT_TYPES:
        raise StreamCliError(f"unknown event type {args.event_type!r}; use one of: {', '.join(EVENT_TYPES)}.")
    if not args.yes:
        raise StreamCliError(
            "`outbox requeue-dead` puts DEAD events back to PENDING (attempts reset) so the next stream run "
            "sends them again; fix what their last_error names first, then add --yes to confirm."
        )
    outbox = Outbox.in_state_dir(HomeSettings.from_env().state_dir)
    before = outbox.status(dead_letters=5)["dead_letters"]
    counts = outbox.requeue_dead(args.event_type)
    print(
        json.dumps(
            {
                "requeued": sum(counts.values()),
                "by_event_type": counts,
                "last_errors": [{"event_id": d["event_id"], "last_error": d["last_error"]} for d in before],
                "note": "the errors stay in last_error (prefixed 'requeued at …') until a send succeeds",
            }
        )
    )
    return 0


def outcome(result: Any) -> str:
    """The name of the exit code for a ``StreamResult`` (see ``EXIT_CODES``); the first that applies."""
    from retail_assets.streaming.drain import DRAINED, MAX_EVENTS, MAX_SECONDS

    d, status = result.drain, result.status
    if d.failed:
        return "sink_failed"
    if result.blocked is not None:
        return "disk" if result.blocked.kind == "disk" else "blocked"
    if d.stop_kind in (MAX_EVENTS, MAX_SECONDS):
        return "limit"
    if d.stop_kind != DRAINED or status.get("pending", 0) + status.get("leased", 0):
        return "waiting"  # back-off, leases held by a live run, or events not yet due on the pacing clock
    return "drained"


def _stream(args: argparse.Namespace) -> int:
    from retail_assets.streaming.drain import DEFAULT_BATCH_SIZE, DrainSettings
    from retail_assets.streaming.lease_owner import process_owner
    from retail_assets.streaming.outbox import OutboxSettings
    from retail_assets.streaming.runner import StreamSettings, stream_once

    home = HomeSettings.from_env()
    dataset = DatasetSettings.from_env(whole_day=False)  # a large day streams in shards (sharded_day.py)
    settings = StreamSettings(
        drain=DrainSettings(
            max_events=args.max_events,
            max_seconds=args.max_seconds,
            batch_size=args.batch_size if args.batch_size is not None else DEFAULT_BATCH_SIZE,
            pacing=args.pacing,
            speedup=args.speedup,
        ),
        outbox=OutboxSettings(
            max_attempts=args.max_attempts, lease_seconds=args.lease_seconds, backoff_base_s=args.backoff_s,
            min_retry_window_s=args.min_retry_window_s,
        ),
        max_pending=args.max_pending,
        generate=not args.no_generate,
        until=parse_stream_until(args.until, "--until") if args.until else None,
    )
    sink = build_sink(args.sink, home.lake_root, args.eventhub_name, args.send_timeout_s, earliest=dataset.start_date)
    owner = process_owner()  # a later run can tell when this process is gone and take its leases back
    try:
        result = stream_once(home, dataset, sink, owner, settings, log=lambda m: print(m, file=sys.stderr))
    finally:
        sink.close()
    d = result.drain
    name = outcome(result)
    print(
        json.dumps(
            {
                "outcome": name,
                "exit_code": _CODE[name],
                "generated_day": result.generated_day.isoformat() if result.generated_day else None,
                "enqueued": result.enqueued,
                "note": result.note,
                "blocked_reason": result.blocked.reason if result.blocked else None,
                "sent": d.sent,
                "failed": d.failed,
                "dead": d.dead,
                "duplicates": d.duplicates,
                "rejected": dict(d.rejected),
                "seconds": round(d.seconds, 3),
                "stop_reason": d.stop_reason,
                "last_error": scrub(d.last_error) if d.last_error else None,
                **d.leases_and_retries(),
                "outbox": {k: result.status[k] for k in ("pending", "leased", "sent", "dead")},
            }
        )
    )
    return _CODE[name]


def register(subparsers: argparse._SubParsersAction) -> None:
    outbox = subparsers.add_parser("outbox", help="inspect or maintain the streaming outbox")
    osub = outbox.add_subparsers(dest="outbox_command", required=True)
    status = osub.add_parser("status", help="counts by status and event type, as one JSON object")
    status.add_argument("--pretty", action="store_true", help="indent the JSON")
    status.set_defaults(func=_status)
    clear = osub.add_parser("clear", help="delete every event from the outbox")
    clear.add_argument("--yes", action="store_true", help="confirm the deletion")
    clear.set_defaults(func=_clear)
    purge = osub.add_parser("purge", help="delete SENT events older than N days")
    purge.add_argument("--older-than-days", type=float, default=7.0)
    purge.set_defaults(func=_purge)
    requeue = osub.add_parser("requeue-dead", help="put DEAD events back to PENDING (attempts reset)")
    requeue.add_argument("--event-type", default=None, help="only this event type (default: all)")
    requeue.add_argument("--yes", action="store_true", help="confirm")
    requeue.set_defaults(func=_requeue_dead)

    codes = "\n".join(f"  {code}  {name}: {meaning}" for code, name, meaning in EXIT_CODES)
    stream = subparsers.add_parser(
        "stream",
        help="one bounded streaming run (generate when every day is sent, then drain)",
        description="One bounded streaming run: generate the next day when every enqueued day is SENT "
        "(and the stream end, today and the disk guard allow it), then drain the outbox to the sink. "
        "Prints one JSON object.",
        epilog="exit codes:\n" + codes,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stream.add_argument("--max-events", type=int, default=1_000_000)
    stream.add_argument("--max-seconds", type=float, default=300.0)
    stream.add_argument("--batch-size", type=int, default=None, help="events per lease (default 150000)")
    stream.add_argument(
        "--pacing", choices=PACINGS, default="asap",
        help="asap: as fast as the sink takes; replay: business time x --speedup; realtime: an event leaves "
        "once its event_ts has passed on the wall clock (UTC)",
    )
    stream.add_argument("--speedup", type=float, default=60.0, help="replay: business seconds per wall second")
    stream.add_argument(
        "--sink", choices=("local", "eventhub"), default=None, help=f"default: ${SINK_ENV}, else local"
    )
    stream.add_argument("--eventhub-name", default=None, help=f"default: ${EVENTHUB_NAME_ENV}")
    stream.add_argument("--send-timeout-s", type=float, default=10.0)
    stream.add_argument("--max-attempts", type=int, default=5)
    stream.add_argument("--lease-seconds", type=float, default=120.0)
    stream.add_argument("--backoff-s", type=float, default=2.0, help="first retry delay (doubles per attempt)")
    stream.add_argument(
        "--min-retry-window-s", type=float, default=900.0,
        help="an event is DEAD only after --max-attempts failed sends spanning at least this many seconds",
    )
    stream.add_argument(
        "--max-pending", type=int, default=None,
        help="hard cap on pending events (default: 5,000,000 per scale-factor unit, at least 5,000,000)",
    )
    stream.add_argument("--no-generate", action="store_true", help="only drain, never generate a day")
    stream.add_argument(
        "--until", default=None,
        help="last day to generate: YYYY-MM-DD, +N (N days past the last batch-generated day) or today "
        "(default: $RETAIL_ASSETS_STREAM_UNTIL, else +3)",
    )
    stream.set_defaults(func=_stream)
