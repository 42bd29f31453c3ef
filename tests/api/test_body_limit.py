"""A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a JSON 413 naming the limit, on every API path and under DEBUG.

Through the test client (Django's WSGI handler) and through uvicorn (the ASGI server `make run` starts).
"""

import contextlib
import itertools
import json
import socket

import pytest
import requests
from django.db import connection

from tests.topology import Web, database_url, process_env

pytestmark = pytest.mark.django_db
LIMIT = 2_621_440  # Django's default, kept by settings.py
PATHS = ("destinations", "connections", "destinations/test")


def three_megabytes() -> str:
    config = {"url": "https://hooks.example.com/in", "method": "x" * 3_000_000}
    return json.dumps({"name": "big", "destination_type": "webhook", "config": config})


def assert_names_the_limit(status: int, content_type: str, body: dict) -> None:
    assert status == 413, body
    assert content_type.startswith("application/json")
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in body["detail"] and f"{LIMIT:,} bytes" in body["detail"]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", PATHS)
def test_an_oversized_body_is_a_json_413(api, settings, debug, path):
    settings.DEBUG = debug
    response = api.post(api.path(path), data=three_megabytes(), content_type="application/json")
    assert_names_the_limit(response.status_code, response["Content-Type"], response.json())


def test_a_smaller_limit_is_the_one_named(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"destination_ids": ["00000000-0000-0000-0000-000000000000"] * 400})
    response = api.post(api.path("destinations/test-jobs"), data=body, content_type="application/json")
    assert response.status_code == 413 and "10,000 bytes" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("debug", ["false", "true"])
def test_through_uvicorn(api, debug):
    env = process_env(database=database_url(connection.settings_dict), redis_url=None, DJANGO_DEBUG=debug)
    headers = {"Authorization": f"Bearer {api.token}", "X-Workspace-ID": str(api.workspace.pk)}
    headers["Content-Type"] = "application/json"
    with Web(env) as web:
        for path in PATHS:
            response = requests.post(f"{web.url}{api.path(path)}", data=three_megabytes(), headers=headers, timeout=30)
            assert_names_the_limit(response.status_code, response.headers["Content-Type"], response.json())


def test_the_schema_documents_the_413_of_every_operation_with_a_body(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = [op for path in schema["paths"].values() for op in path.values() if isinstance(op, dict)]
    with_body = [op for op in operations if "requestBody" in op]
    assert len(with_body) >= 8
    for operation in operations:
        assert ("413" in operation["responses"]) == ("requestBody" in operation), operation["operationId"]


def raw_post(web: Web, path: str, headers: dict, body_frames, *, read_timeout: float = 10) -> tuple[int, dict]:
    """POST over a plain socket, sending `body_frames` (bytes) one by one, then read the answer: the client a
    library would be, without one that stops sending when the server answers early."""
    with socket.create_connection(("127.0.0.1", web.port), timeout=read_timeout) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock.sendall(head.encode() + b"\r\n")
        with contextlib.suppress(OSError):  # the server may answer, and close, before the client is done
            for frame in body_frames:
                sock.sendall(frame)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = b"".join(body.split(b"\r\n")[1::2])
    return status, json.loads(body)


def chunked(body: bytes, size: int = 65536, *, end: bool = True):
    for start in range(0, len(body), size):
        part = body[start : start + size]
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    if end:
        yield b"0\r\n\r\n"


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_through_uvicorn_is_read_and_bounded(api):
    """A body sent without Content-Length (Transfer-Encoding: chunked) is the same request as with it: read
    when it fits, a 413 naming the limit when it does not, answered once the limit is passed, not at its end."""
    env = process_env(database=database_url(connection.settings_dict), redis_url=None, DJANGO_DEBUG="false")
    headers = {"Authorization": f"Bearer {api.token}", "X-Workspace-ID": str(api.workspace.pk)}
    headers |= {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    small = json.dumps({"name": "chunked", "destination_type": "webhook", "config": {"url": "https://h.example.com/"}})
    path = api.path("destinations")
    with Web(env) as web:
        status, body = raw_post(web, path, headers, chunked(small.encode(), size=16))
        assert status == 201, body
        assert body["name"] == "chunked"
        status, body = raw_post(web, path, headers, chunked(three_megabytes().encode()))
        assert_names_the_limit(status, "application/json", body)
        # A body that never ends is refused once past the limit (the server would otherwise wait for its end).
        endless = itertools.chain(chunked(three_megabytes().encode(), end=False), itertools.repeat(b"1\r\nx\r\n"))
        status, body = raw_post(web, path, headers, itertools.islice(endless, 100_000))
        assert_names_the_limit(status, "application/json", body)


@pytest.mark.django_db(transaction=True)
def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(api):
    env = process_env(database=database_url(connection.settings_dict), redis_url=None, DJANGO_DEBUG="false")
    headers = {"Authorization": f"Bearer {api.token}", "X-Workspace-ID": str(api.workspace.pk)}
    headers |= {"Content-Type": "application/json", "Content-Length": str(1024**3)}  # a gigabyte, never sent whole
    with Web(env) as web:
        frames = itertools.repeat(b" " * 65536, 3 * 16)  # 3 MB of it
        status, body = raw_post(web, api.path("destinations"), headers, frames)
    assert_names_the_limit(status, "application/json", body)
