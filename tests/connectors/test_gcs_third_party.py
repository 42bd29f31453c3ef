"""The GCS connector against a Cloud Storage emulator someone else wrote (gcp-storage-emulator, oittaa).

Only the OAuth token endpoint (the key file's token_uri) is ours: gcp-storage-emulator does no auth. It serves
the JSON API the connector uses — buckets.testIamPermissions (a stub that grants what is asked) — so the request
shape (path, repeated `permissions` query, bucket-name quoting) is checked by an implementation that does not
share the connector's assumptions, and its object listing shows the test wrote nothing.
"""

import pytest
from gcp_storage_emulator.server import create_server

from connectors.gcs import GcsConnector
from connectors.runtime.base import FAILED, PASSED
from connectors.runtime.http import OutboundPolicy, parse_networks
from tests.conftest import LOOPBACK
from tests.emulators.gcs import GcsEmulator, valid_config
from tests.topology import free_port

BUCKET = "acme-exports"


@pytest.fixture(scope="module")
def token_server():
    with GcsEmulator() as running:
        yield running


@pytest.fixture(scope="module")
def storage():
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    server.url = f"http://127.0.0.1:{port}"
    yield server
    server.stop()


@pytest.fixture
def policy(storage):
    storage.wipe(keep_buckets=True)
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"gcs": storage.url})


def objects(storage) -> list[str]:
    import requests

    answer = requests.get(f"{storage.url}/storage/v1/b/{BUCKET}/o", timeout=5).json()
    return [item["name"] for item in answer.get("items", [])]


def test_every_step_passes_against_gcp_storage_emulator_and_writes_nothing(token_server, storage, policy):
    results = {r.name: r for r in GcsConnector(valid_config(token_server), policy=policy).test()}
    assert [r.status for r in results.values()] == [PASSED] * 3, {n: r.message for n, r in results.items()}
    check = results["bucket_permissions"]
    assert set(check.details["permissions"]) >= {"storage.objects.create"}
    assert check.details["proven"] == ["storage.objects.create"]
    assert objects(storage) == []  # the emulator's bucket holds nothing the test wrote


def test_a_missing_bucket_is_not_found_on_the_emulator(token_server, storage, policy):
    config = {**valid_config(token_server), "bucket": "no-such-bucket"}
    results = {r.name: r for r in GcsConnector(config, policy=policy).test()}
    assert results["bucket_permissions"].status == FAILED
    assert results["bucket_permissions"].error["code"] == "not_found"


def test_an_awkward_prefix_changes_nothing_on_the_emulator(token_server, storage, policy):
    config = {**valid_config(token_server), "prefix": "exports/2026 Q4/ünïcode"}
    results = {r.name: r for r in GcsConnector(config, policy=policy).test()}
    assert results["bucket_permissions"].status == PASSED, results["bucket_permissions"].message
    assert objects(storage) == []
