"""python manage.py test_destinations: run connection tests for many destinations at once.

Exit status: 0 when every test passed, 1 when any failed, 2 on bad usage, 130 when stopped with Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from destinations import bulk
from destinations.errors import InvalidInput
from destinations.models import DestinationStatus, TestRunTrigger

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
BAR_WIDTH = 30


@contextlib.contextmanager
def _ctrl_c_stops(stop: threading.Event):
    """The first Ctrl-C sets `stop` (between results, never in the middle of writing one); the second
    raises KeyboardInterrupt to abandon the tests still running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {value!r}")
    return number


class Command(BaseCommand):
    help = (
        "Test the connections of many destinations at once, with the same service (and TestRun history) as "
        "the API. Choose them with --workspace, --type, --status and --id (each repeatable, combined with AND) "
        "or --all. Exit status: 0 all passed, 1 any failed, 2 bad usage, 130 interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--workspace",
            action="append",
            default=[],
            metavar="ID_OR_NAME",
            help="Only this workspace (id or exact name); repeatable.",
        )
        parser.add_argument(
            "--type",
            action="append",
            default=[],
            dest="types",
            metavar="TYPE",
            help="Only this destination type (e.g. webhook); repeatable.",
        )
        parser.add_argument(
            "--status",
            action="append",
            default=[],
            dest="statuses",
            metavar="STATUS",
            help=f"Only destinations in this status ({', '.join(DestinationStatus.values)}); repeatable.",
        )
        parser.add_argument(
            "--id", action="append", default=[], dest="ids", metavar="UUID", help="This destination; repeatable."
        )
        parser.add_argument("--all", action="store_true", dest="select_all", help="Every destination.")
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=bulk.DEFAULT_CONCURRENCY,
            metavar="N",
            help=f"Tests run at once (default {bulk.DEFAULT_CONCURRENCY}).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="One JSON object per destination on stdout (the summary goes to stderr).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Test without saving the destinations' statuses (the test history is kept).",
        )

    def handle(self, *args, workspace, types, statuses, ids, select_all, concurrency, as_json, dry_run, **options):
        try:
            destinations = bulk.destinations_select(
                workspaces=workspace, types=types, statuses=statuses, ids=ids, select_all=select_all
            )
        except InvalidInput as exc:
            raise CommandError(self._usage_message(exc), returncode=EXIT_USAGE) from None

        self.as_json = as_json
        self.progress = self.stderr.isatty()
        pool = bulk.database_pool_size()
        if pool is not None and concurrency > pool:
            self._err(
                f"Note: --concurrency {concurrency} is above the database pool's {pool} connections "
                "(DB_POOL_MAX_SIZE); some tests will wait for a connection.",
                self.style.WARNING,
            )
        summary_out = self.stderr if as_json else self.stdout
        stop = threading.Event()
        try:
            with _ctrl_c_stops(stop):
                report = bulk.bulk_test(
                    destinations,
                    trigger=TestRunTrigger.CLI,
                    concurrency=concurrency,
                    save_status=not dry_run,
                    on_result=self._on_result,
                    on_stopping=self._on_stopping,
                    stop=stop,
                )
        except KeyboardInterrupt:
            self._clear_progress()
            self._err(
                "Stopped: the tests still running were abandoned; results already saved are kept.", self.style.WARNING
            )
            raise CommandError("Interrupted.", returncode=EXIT_INTERRUPTED) from None
        self._clear_progress()
        self._write_summary(report, summary_out, dry_run=dry_run)
        if report.interrupted:
            raise CommandError(
                f"Interrupted after {report.done} of {report.total} destinations.", returncode=EXIT_INTERRUPTED
            )
        if report.failed:
            raise CommandError(
                f"{len(report.failed)} of {len(report.results)} destinations failed their connection test.",
                returncode=EXIT_FAILED,
            )

    # --- output ----------------------------------------------------------------------------------

    @staticmethod
    def _usage_message(exc: InvalidInput) -> str:
        flags = {
            "selection": "",
            "type": "--type",
            "status": "--status",
            "id": "--id",
            "workspace": "--workspace",
            "concurrency": "--concurrency",
        }
        lines = []
        for key, messages in exc.errors.items():
            flag = flags.get(key, key)
            lines.extend(f"{flag}: {message}" if flag else message for message in messages)
        if "selection" in exc.errors:
            lines[-1] += " Use --workspace, --type, --status, --id or --all."
        return " ".join(lines)

    def _on_result(self, result: bulk.DestinationResult, report: bulk.BulkReport) -> None:
        if self.as_json:
            self.stdout.write(json.dumps(result.as_dict()))
            self.stdout.flush()
        if self.progress:
            self._draw_progress(report)

    def _on_stopping(self, running: int) -> None:
        self._clear_progress()
        self._err(
            f"Stopping: no new tests start; waiting for the {running} running to finish and save "
            "(Ctrl-C again to abandon them).",
            self.style.WARNING,
        )

    def _draw_progress(self, report: bulk.BulkReport) -> None:
        done, total = report.done, max(report.total, 1)
        filled = int(BAR_WIDTH * done / total)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = f"\r[{bar}] {done}/{report.total}  passed {len(report.passed)}  failed {len(report.failed)}"
        self._err(line, ending="")
        self.stderr.flush()

    def _clear_progress(self) -> None:
        if self.progress:
            self._err("\r\033[K", ending="")
            self.stderr.flush()

    def _err(self, text: str, style_func=None, ending=None) -> None:
        """stderr without Django's default red: progress and the --json summary are not errors."""
        self.stderr.write(text, style_func=style_func or _plain, ending=ending)

    def _write_summary(self, report: bulk.BulkReport, out, *, dry_run: bool) -> None:
        if out is self.stderr:
            out = _Plain(self.stderr)
        seconds = report.wall_ms / 1000
        mode = " (dry run: statuses not saved)" if dry_run else ""
        out.write(
            f"Tested {len(report.results)} of {report.total} destinations in {seconds:.1f}s at concurrency "
            f"{report.concurrency}{mode}."
        )
        if report.total == 0:
            out.write("No destination matches.")
            return
        rows = [("passed", len(report.passed)), ("failed", len(report.failed))]
        if report.missing:
            rows.append(("deleted before testing", len(report.missing)))
        if report.not_run:
            rows.append(("not run (interrupted)", report.not_run))
        out.write(_table(("Result", "Count"), rows))
        if report.failed:
            out.write("")
            out.write(_table(("Type", "Failing step", "Count"), report.failures_by_step()))
            out.write("")
            out.write(
                _table(
                    ("Failed destination", "Id", "Type", "Step", "Error", "Message"),
                    [
                        (
                            r.name,
                            r.id,
                            r.destination_type,
                            r.failed_step or "",
                            r.error_code or "",
                            _clip(r.message, 80),
                        )
                        for r in sorted(report.failed, key=lambda r: (r.destination_type, r.failed_step or "", r.name))
                    ],
                )
            )


def _plain(text: str) -> str:
    return text


class _Plain:
    """An output wrapper's write() without its style."""

    def __init__(self, wrapper):
        self.wrapper = wrapper

    def write(self, text: str = "", ending=None) -> None:
        self.wrapper.write(text, style_func=_plain, ending=ending)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(header: tuple, rows: list[tuple]) -> str:
    cells = [tuple(str(c) for c in header), *(tuple(str(c) for c in row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row):
        return "  ".join(
            cell.rjust(width) if cell.isdigit() else cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *(line(row) for row in cells[1:])])
