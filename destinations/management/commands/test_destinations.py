"""python manage.py test_destinations: run connection tests for many destinations at once.

Exit status: 0 when every test passed, 1 when any failed, 2 on bad usage, 130 when stopped with Ctrl-C.
Failed tests are a result, printed with the summary; only bad usage is an error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading

from django.conf import settings
from django.core.management.base import CommandError
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from destinations.db import database_pool_size
from destinations.errors import InvalidInput, TooBusy
from destinations.jobs.background import test_job_create, test_job_submit
from destinations.jobs.pool import BulkReport, bulk_test
from destinations.jobs.results import DestinationResult
from destinations.jobs.selection import DEFAULT_CONCURRENCY, destinations_by_workspace, destinations_select
from destinations.models import DestinationStatus, TestRunTrigger
from workspaces.management.scripting import ScriptableCommand

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# Below this many columns the failed destinations are listed one block each instead of as a table.
WIDE_TABLE = 110


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


class Command(ScriptableCommand):
    progress: Progress | None = None
    help = (
        "Test the connections of many destinations at once, with the same service (and TestRun history) as "
        "the API. Choose them with --workspace, --type, --status and --id (each repeatable, combined with AND) "
        "or --all. Exit status: 0 all passed, 1 any failed, 2 bad usage, 130 interrupted. `make manage` turns "
        "every non-zero status into 2: scripts run `.venv/bin/python manage.py test_destinations ...` directly."
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
            default=DEFAULT_CONCURRENCY,
            metavar="N",
            help=f"Tests run at once (default {DEFAULT_CONCURRENCY}).",
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
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Do not wait: record a background test job per workspace (run by the workers, or by the "
            "running server's scheduler in the embedded runtime) and print the job ids.",
        )

    def execute(self, *args, **options):
        """Keep the raw streams: rich writes the progress bar and tables to them directly."""
        self.raw_stdout = options.get("stdout") or sys.stdout
        self.raw_stderr = options.get("stderr") or sys.stderr
        return super().execute(*args, **options)

    def handle(
        self, *args, workspace, types, statuses, ids, select_all, concurrency, as_json, dry_run, enqueue, **options
    ):
        try:
            destinations = destinations_select(
                workspaces=workspace, types=types, statuses=statuses, ids=ids, select_all=select_all
            )
        except InvalidInput as exc:
            raise CommandError(self._usage_message(exc), returncode=EXIT_USAGE) from None
        if enqueue:
            if dry_run:
                raise CommandError("--dry-run cannot be combined with --enqueue.", returncode=EXIT_USAGE)
            self._enqueue(destinations, concurrency=concurrency, as_json=as_json)
            return

        self.as_json = as_json
        self.progress = _progress(Console(file=self.raw_stderr)) if self.raw_stderr.isatty() else None
        pool = database_pool_size()
        if pool is not None and concurrency > pool:
            self._err(
                f"Note: --concurrency {concurrency} is above the database pool's {pool} connections "
                "(DB_POOL_MAX_SIZE); some tests will wait for a connection.",
                self.style.WARNING,
            )
        summary_out = self.raw_stderr if as_json else self.raw_stdout
        stop = threading.Event()
        if self.progress is not None:
            self.task = self.progress.add_task("passed 0  failed 0", total=destinations.count())
            self.progress.start()
        try:
            with _ctrl_c_stops(stop):
                report = bulk_test(
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
            self.exit_status = EXIT_INTERRUPTED
            return
        self._clear_progress()
        self._write_summary(report, summary_out, dry_run=dry_run)
        if report.interrupted:
            self.exit_status = EXIT_INTERRUPTED
        elif report.failed:
            self.exit_status = EXIT_FAILED

    @staticmethod
    def _outcome(report: BulkReport) -> str:
        """The summary's last line: what a person (or a script's log) needs to know first."""
        if report.interrupted:
            return f"Interrupted after {report.done} of {report.total} destinations."
        if report.failed:
            return f"{len(report.failed)} of {len(report.results)} destinations failed their connection test."
        return f"All {len(report.results)} destinations passed their connection test."

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

    def _on_result(self, result: DestinationResult, report: BulkReport) -> None:
        if self.as_json:
            self.stdout.write(json.dumps(result.as_dict()))
            self.stdout.flush()
        if self.progress is not None:
            self.progress.update(
                self.task,
                completed=report.done,
                description=f"passed {len(report.passed)}  failed {len(report.failed)}",
            )

    def _on_stopping(self, running: int) -> None:
        self._err(
            f"Stopping: no new tests start; waiting for the {running} running to finish and save "
            "(Ctrl-C again to abandon them).",
            self.style.WARNING,
        )

    def _clear_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _err(self, text: str, style_func=None, ending=None) -> None:
        """stderr without Django's default red: progress and the --json summary are not errors."""
        if self.progress is not None:
            self.progress.console.print(Text(text))  # above the live bar, which stays on its own line
            return
        self.stderr.write(text, style_func=style_func or _plain, ending=ending)

    def _write_summary(self, report: BulkReport, out, *, dry_run: bool) -> None:
        """Plain text tables sized to the terminal (or to COLUMNS). Piped, no line is wrapped: a failed
        destination is a block of whole lines, so each message stays one line for grep and logs."""
        terminal = out.isatty()
        console = Console(file=out, highlight=False, soft_wrap=not terminal)
        seconds = report.wall_ms / 1000
        mode = " (dry run: statuses not saved)" if dry_run else ""
        console.print(
            Text(
                f"Tested {len(report.results)} of {report.total} destinations in {seconds:.1f}s at concurrency "
                f"{report.concurrency}{mode}."
            )
        )
        if report.total == 0:
            console.print("No destination matches.")
            return
        self._write_counts(report, console, terminal=terminal)
        console.print(Text(self._outcome(report)))

    @staticmethod
    def _write_counts(report: BulkReport, console: Console, *, terminal: bool) -> None:
        rows = [("passed", len(report.passed)), ("failed", len(report.failed))]
        if report.missing:
            rows.append(("deleted before testing", len(report.missing)))
        if report.not_run:
            rows.append(("not run (interrupted)", report.not_run))
        console.print(_table(("Result", "Count"), rows))
        unproven = [r for r in report.passed if r.unproven]
        if unproven:
            console.print(Text("Passed, with privileges the first sync needs that no test can prove", style="bold"))
            for r in unproven:  # one block each, so the id stays whole at any width
                console.print(Text(f"{r.name}  {r.id}"))
                for u in r.unproven:
                    console.print(Text(f"  {u['step']} · {u['privilege']}: {u['reason']}"))
        if report.failed:
            console.print(_table(("Type", "Failing step", "Count"), report.failures_by_step()))
            failed = sorted(report.failed, key=lambda r: (r.destination_type, r.failed_step or "", r.name))
            if terminal and console.width >= WIDE_TABLE:
                rows = [(r.name, r.id, r.destination_type, r.failed_step, r.error_code, r.message) for r in failed]
                console.print(_table(("Failed destination", "Id", "Type", "Step", "Error", "Message"), rows))
                return
            console.print(Text("Failed destinations", style="bold"))
            for r in failed:  # piped or narrow: one block each (wrapped to a terminal's width only)
                console.print(Text(f"{r.name}  {r.id}"))
                console.print(Text(f"  {r.destination_type} · {r.failed_step or '?'} · {r.error_code or 'error'}"))
                console.print(Text(f"  {r.message}"))

    def _enqueue(self, destinations, *, concurrency: int, as_json: bool) -> None:
        """One job per workspace among the chosen destinations; prints each job's id and where to follow it."""
        by_workspace = destinations_by_workspace(destinations)
        if not by_workspace:
            self.stdout.write("No destination matches.")
            return
        distributed = settings.CONNECTION_TEST_RUNTIME == "distributed"
        api = settings.API_PUBLIC_URL.rstrip("/")
        for workspace, ids in by_workspace:
            try:
                job = test_job_create(
                    workspace=workspace,
                    actor=None,
                    trigger=TestRunTrigger.CLI,
                    ids=ids,
                    concurrency=concurrency,
                )
            except TooBusy as exc:
                raise CommandError(exc.detail, returncode=EXIT_USAGE) from None
            if distributed:
                test_job_submit(job)  # else the running server's scheduler starts it at its next tick
            url = f"{api}/api/v1/workspaces/{workspace.pk}/destinations/test-jobs/{job.pk}"
            if as_json:
                self.stdout.write(
                    json.dumps(
                        {"job_id": str(job.pk), "workspace_id": str(workspace.pk), "total": job.total, "url": url}
                    )
                )
            else:
                self.stdout.write(
                    f"Enqueued job {job.pk}: {job.total} destinations of workspace {workspace}. GET {url}"
                )
        if not distributed:
            self._err(
                "Embedded runtime: the running server (make run) starts the jobs within "
                f"{settings.SCHEDULER_TICK_SECONDS:g}s."
            )


class _RateColumn(ProgressColumn):
    """Tests finished per second."""

    def render(self, task) -> Text:
        return Text("-- /s" if task.speed is None else f"{task.speed:.1f}/s")


def _progress(console: Console) -> Progress:
    """A bar with counts, rate and ETA on stderr; it never mixes with --json lines, which go to stdout."""
    return Progress(
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        _RateColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def _plain(text: str) -> str:
    return text


def _table(header: tuple, rows: list[tuple], *, whole: tuple = ("Id", "Count")) -> Table:
    """A borderless table that fits the console's width: columns fold onto more lines, except those in
    `whole` (ids, counts), which stay on one line so they can be copied."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, highlight=False)
    for name in header:
        table.add_column(
            name,
            justify="right" if name == "Count" else "left",
            no_wrap=name in whole,
            overflow="ellipsis" if name in whole else "fold",
        )
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table
