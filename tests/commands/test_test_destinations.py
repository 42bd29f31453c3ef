"""`manage.py test_destinations` and the bulk service behind it (`bulk_test`).

The tests run on worker threads with their own database connections, hence transactional tests.
"""

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as default_connection
from django.db import connections
from django.db.backends.signals import connection_created

from destinations.errors import InvalidInput
from destinations.jobs import pool as bulk
from destinations.jobs import selection as choosing
from destinations.management.commands.test_destinations import Command as BulkTestCommand
from destinations.models import Destination, DestinationStatus, TestRun
from tests.emulators.webhook import WebhookReceiver
from tests.factories import DestinationFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "k-123"


@pytest.fixture
def receiver():
    with WebhookReceiver(required_headers={"X-API-Key": API_KEY}) as server:
        yield server


def hook(receiver, key=API_KEY, **kwargs):
    return DestinationFactory(
        config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": key}}, **kwargs
    )


class TTY(io.StringIO):
    def isatty(self):
        return True


def run(*args, stdout=None):
    """call_command: (stdout, stderr, exit status)."""
    out, err = stdout or io.StringIO(), io.StringIO()
    command = BulkTestCommand()
    try:
        call_command(command, *args, stdout=out, stderr=err)
        code = command.exit_status
    except CommandError as exc:
        err.write(str(exc))
        code = exc.returncode
    return out.getvalue(), err.getvalue(), code


# --- usage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Use --workspace, --type, --status, --id or --all."),
        (("--type", "fax"), "--type: Unknown destination type 'fax'."),
        (("--status", "broken"), "--status: Unknown status 'broken'."),
        (("--id", "not-a-uuid"), "--id: 'not-a-uuid' is not a UUID."),
        (("--workspace", "Nowhere"), "--workspace: No workspace with the id or name 'Nowhere'."),
    ],
)
def test_bad_usage_exits_2(args, message):
    _out, err, code = run(*args)
    assert code == 2
    assert message in err


def test_bad_usage_from_the_command_line_exits_2():
    env = _subprocess_env()
    for args in (["--concurrency", "0", "--all"], ["--concurrency", "x", "--all"], [], ["--type", "fax"]):
        result = subprocess.run(
            [sys.executable, "manage.py", "test_destinations", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (args, result.stderr)


def _command_line(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "manage.py", "test_destinations", *args],
        cwd=ROOT,
        env={**_subprocess_env(), **kwargs},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("typed", "meant"), [("--al", "--all"), ("--work", "--workspace"), ("--dryrun", "--dry-run"), ("--jsn", "--json")]
)
def test_a_flag_is_never_abbreviated_and_a_typo_names_the_flag_meant(typed, meant):
    _out, err, code = run(typed)
    assert code == 2 and f"did you mean {meant}?" in err
    assert not TestRun.objects.exists()


def test_failed_tests_are_a_result_with_exit_1_and_bad_flags_exit_2_from_the_command_line(receiver):
    hook(receiver, key="wrong", name="Bad one")
    connections.close_all()
    failed = _command_line("--all")
    assert failed.returncode == 1, failed.stderr
    assert "CommandError" not in failed.stdout + failed.stderr
    assert failed.stdout.splitlines()[-1] == "1 of 1 destinations failed their connection test."
    green = _command_line("--status", "connected")
    assert green.returncode == 0 and "CommandError" not in green.stderr
    typo = _command_line("--al")
    assert typo.returncode == 2 and "unrecognized arguments: --al (--al: did you mean --all?)" in typo.stderr
    assert TestRun.objects.count() == 1  # `--al` ran nothing


def test_piped_output_never_wraps_a_sentence(receiver):
    long_name = "A destination whose name is long enough to need more than one line of eighty columns"
    bad = hook(receiver, key="wrong", name=long_name)
    connections.close_all()
    result = _command_line("--all", "--dry-run", COLUMNS="80")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Tested 1 of 1 destinations in ") and lines[0].endswith("(dry run: statuses not saved).")
    assert f"{long_name}  {bad.pk}" in lines
    message = TestRun.objects.get().failed_step["message"]
    assert f"  {message}" in lines  # the whole message on one line
    assert max(len(line) for line in lines) > 80


def test_concurrency_must_be_positive_for_the_service():
    with pytest.raises(InvalidInput):
        bulk.bulk_test([], concurrency=0)


# --- results, summary, exit status ------------------------------------------------------------------


def test_all_pass_exits_0_with_a_summary(receiver):
    first, second = hook(receiver), hook(receiver)
    out, _err, code = run("--all")
    assert code == 0
    assert "Tested 2 of 2 destinations" in out
    assert re.search(r"^passed +2$", out, re.M) and re.search(r"^failed +0$", out, re.M)
    for destination in (first, second):
        destination.refresh_from_db()
        assert destination.status == DestinationStatus.CONNECTED and destination.last_tested_at
    assert sorted(TestRun.objects.values_list("trigger", "success")) == [("cli", True), ("cli", True)]


def test_a_failure_exits_1_and_is_summarised_by_step(receiver):
    hook(receiver, name="Good")
    bad = hook(receiver, key="wrong", name="Bad one")
    out, err, code = run("--all")
    assert code == 1
    assert out.splitlines()[-1] == "1 of 2 destinations failed their connection test."  # a result, not an error
    assert re.search(r"^failed +1$", out, re.M)
    assert re.search(r"^webhook +delivery +1$", out, re.M)  # by failing step
    assert "Bad one" in out and str(bad.pk) in out and "auth_invalid" in out
    bad.refresh_from_db()
    assert bad.status == DestinationStatus.ERROR and bad.status_error
    assert "wrong" not in out + err


def test_json_lines(receiver):
    good = hook(receiver, name="Good")
    bad = hook(receiver, key="wrong", name="Bad")
    out, err, code = run("--all", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert {line["id"] for line in lines} == {str(good.pk), str(bad.pk)}
    by_name = {line["name"]: line for line in lines}
    assert by_name["Good"] == {
        **by_name["Good"],
        "type": "webhook",
        "success": True,
        "failed_step": None,
        "error_code": None,
    }
    assert by_name["Bad"]["success"] is False and by_name["Bad"]["failed_step"] == "delivery"
    assert by_name["Bad"]["error_code"] == "auth_invalid" and "401" in by_name["Bad"]["message"]
    assert all(isinstance(line["duration_ms"], int) for line in lines)
    assert set(by_name["Good"]) >= {
        "id",
        "name",
        "type",
        "success",
        "failed_step",
        "error_code",
        "message",
        "duration_ms",
    }
    assert "Tested 2 of 2" in err  # the summary goes to stderr with --json


def test_dry_run_keeps_statuses_but_records_history(receiver):
    destination = hook(receiver, key="wrong")
    _out, _err, code = run("--all", "--dry-run")
    assert code == 1
    destination.refresh_from_db()
    assert destination.status == DestinationStatus.PENDING and destination.last_tested_at is None
    run_ = TestRun.objects.get()
    assert run_.destination == destination and run_.success is False and run_.trigger == "cli"


def test_progress_bar_only_on_a_terminal(receiver):
    hook(receiver)
    err = TTY()
    call_command("test_destinations", "--all", stdout=io.StringIO(), stderr=err)
    assert "1/1" in err.getvalue() and "ETA" in err.getvalue() and "/s" in err.getvalue()
    _out, plain_err, _ = run("--all")
    assert "ETA" not in plain_err


def test_nothing_matching_exits_0():
    out, _err, code = run("--status", "error")
    assert code == 0 and "No destination matches." in out


# --- selection -------------------------------------------------------------------------------------


def test_selectors_combine(receiver):
    acme, globex = WorkspaceFactory(name="Acme"), WorkspaceFactory(name="Globex")
    a1 = hook(receiver, workspace=acme)
    a2 = hook(receiver, workspace=acme, status=DestinationStatus.ERROR)
    g1 = hook(receiver, workspace=globex)

    def chosen(**kwargs):
        return set(choosing.destinations_select(**kwargs).values_list("pk", flat=True))

    assert chosen(workspaces=["Acme"]) == {a1.pk, a2.pk}
    assert chosen(workspaces=[str(globex.pk)]) == {g1.pk}
    assert chosen(workspaces=["Acme"], statuses=["error"]) == {a2.pk}
    assert chosen(types=["webhook"]) == {a1.pk, a2.pk, g1.pk}
    assert chosen(types=["braze"]) == set()
    assert chosen(ids=[str(a1.pk), str(g1.pk)]) == {a1.pk, g1.pk}
    assert chosen(select_all=True) == {a1.pk, a2.pk, g1.pk}

    out, _err, code = run("--workspace", "Acme", "--status", "pending", "--json")
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == [str(a1.pk)]
    out, _err, _ = run("--id", str(a2.pk), "--id", str(g1.pk), "--json")
    assert {json.loads(line)["id"] for line in out.splitlines()} == {str(a2.pk), str(g1.pk)}


# --- the bulk service ------------------------------------------------------------------------------


def test_invalid_stored_config_is_a_config_failure(receiver):
    destination = hook(receiver)
    Destination.objects.filter(pk=destination.pk).update(config={"url": "nope"})
    report = bulk.bulk_test([destination.pk])
    [result] = report.results
    assert not result.success and result.failed_step == "config" and result.error_code == "invalid_config"
    assert "config.url" in result.message
    assert report.failures_by_step() == [("webhook", "config", 1)]


def test_deleted_before_testing_is_reported_missing(receiver):
    destination = hook(receiver)
    gone = destination.pk
    destination.delete()
    report = bulk.bulk_test([gone])
    assert report.results == [] and report.missing == [gone] and report.not_run == 0


class QueryCounter:
    def __init__(self):
        self.count, self.lock, self.connections = 0, threading.Lock(), []

    def __call__(self, execute, sql, params, many, context):
        with self.lock:
            self.count += 1
        return execute(sql, params, many, context)

    def on_created(self, sender, connection, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            self.connections.append(connection)
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)


def test_queries_per_destination_do_not_grow_and_workers_close_their_connections(receiver):
    counter = QueryCounter()
    connection_created.connect(counter.on_created)
    try:
        per_destination = []
        for n in (2, 8, 24):  # the first batch warms what a process reads once (caches), and is not compared
            for _ in range(n):
                hook(receiver)
            selection = choosing.destinations_select(select_all=True, statuses=["pending"])
            ids = list(selection.values_list("pk", flat=True))
            before = counter.count
            report = bulk.bulk_test(ids, concurrency=2)
            assert len(report.passed) == n
            per_destination.append((counter.count - before) / n)
    finally:
        connection_created.disconnect(counter.on_created)
    assert per_destination[1] == per_destination[2], per_destination
    # incl. the audit-history row of each test, and on a config's first test the mark that it validated
    assert per_destination[1] <= 8
    # every connection a worker thread opened is closed again
    assert counter.connections and all(conn.connection is None for conn in counter.connections)


def test_interrupt_stops_new_tests_and_keeps_the_finished(receiver):
    receiver.slow("hook", 0.2)
    destinations = [hook(receiver) for _ in range(12)]
    stopping = []

    def interrupt_after_first(result, report):
        if len(report.results) == 1:
            raise KeyboardInterrupt

    report = bulk.bulk_test(
        [d.pk for d in destinations], concurrency=2, on_result=interrupt_after_first, on_stopping=stopping.append
    )
    assert report.interrupted and stopping
    assert 1 <= len(report.results) < 12 and report.not_run == 12 - len(report.results)
    tested = {r.id for r in report.results}
    for destination in destinations:
        destination.refresh_from_db()
        expected = DestinationStatus.CONNECTED if destination.pk in tested else DestinationStatus.PENDING
        assert destination.status == expected
    # the tests that were running finished and were recorded; nothing was left half-done
    assert TestRun.objects.filter(finished_at__isnull=True).count() == 0
    assert TestRun.objects.count() == len(report.results)


def _subprocess_env():
    settings_dict = default_connection.settings_dict
    env = {**os.environ, "DJANGO_TESTING": "1", "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8", "LOG_LEVEL": "ERROR"}
    if settings_dict["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{settings_dict['NAME']}"
    else:
        user, host, port = settings_dict["USER"], settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
        password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
        env["DATABASE_URL"] = f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"
    return env


def test_ctrl_c_from_the_command_line(receiver):
    """A real SIGINT: the running tests finish and are saved, nothing new starts, exit status 130."""
    receiver.slow("hook", 0.3)
    destinations = [hook(receiver) for _ in range(10)]
    connections.close_all()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "test_destinations", "--all", "--concurrency", "2", "--json"],
        cwd=ROOT,
        env=_subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = process.stdout.readline()
    assert json.loads(first)["success"] is True, process.stderr.read()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)  # the output is a few lines: it fits in the pipes
    # read through the text wrappers: readline() may already hold the next line in its buffer
    rest, err = process.stdout.read(), process.stderr.read()
    assert process.returncode == 130, err
    assert "Stopping: no new tests start" in err and "Interrupted after" in err
    assert "not run (interrupted)" in err
    done = 1 + len(rest.splitlines())
    assert done < len(destinations)
    statuses = list(Destination.objects.values_list("status", flat=True))
    assert statuses.count(DestinationStatus.CONNECTED) == done
    assert statuses.count(DestinationStatus.PENDING) == len(destinations) - done
    assert TestRun.objects.filter(finished_at__isnull=True).count() == 0


def test_a_second_ctrl_c_abandons_the_running_tests(receiver):
    receiver.slow("hook", 5)
    for _ in range(4):
        hook(receiver)
    connections.close_all()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "test_destinations", "--all", "--concurrency", "2"],
        cwd=ROOT,
        env=_subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while len(receiver.calls) < 2 and time.monotonic() < deadline:  # both workers are in a test
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert "Stopping: no new tests start" in err and "were abandoned" in err
    assert Destination.objects.filter(status=DestinationStatus.PENDING).count() == 4


def test_stop_event_ends_the_run_early(receiver):
    destinations = [hook(receiver) for _ in range(6)]
    stop = threading.Event()

    def stop_after_first(result, report):
        stop.set()

    report = bulk.bulk_test([d.pk for d in destinations], concurrency=1, on_result=stop_after_first, stop=stop)
    # the one worker may have taken the next destination before the first result was read
    assert report.interrupted and len(report.results) in (1, 2) and report.not_run == 6 - len(report.results)
