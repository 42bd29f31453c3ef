"""The boto3 path connects where the guard looked (issue 13 item 7), and IPv4-compatible IPv6 is refused."""

import pytest

from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundClient, OutboundPolicy, parse_networks
from connectors.s3 import S3Connector
from tests.emulators.s3 import S3Emulator, valid_config
from tests.emulators.webhook import WebhookReceiver

GUARDED = OutboundPolicy()  # the production policy: public addresses only


@pytest.fixture(scope="module")
def moto():
    with S3Emulator() as server:
        yield server


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:1\\@1.2.3.4:1",
        "https://user:password@minio.example.com",
        "https://minio.example.com/bucket\\..\\x",
    ],
)
def test_backslashes_and_user_info_in_the_endpoint_are_a_400_naming_the_field(api, endpoint):
    body = {"name": "Lake", "destination_type": "s3", "config": {**valid_config(None), "endpoint_url": endpoint}}
    response = api.post(api.path("destinations"), body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["config.endpoint_url"]
    assert "user-info" in response.json()["errors"]["config.endpoint_url"][0]


def test_a_plain_endpoint_with_port_and_path_is_accepted():
    config = {**valid_config(None), "endpoint_url": "https://minio.example.com:9000/storage"}
    assert S3Connector.validate_config(config) == {}


def test_signed_requests_go_only_where_the_guard_looked(moto):
    """The guard is asked about 1.2.3.4 (urlsplit's host), but urllib3 would connect to 127.0.0.1: the request is
    sent by the guarded client, which resolves, checks and pins the host it connects to."""
    port = moto.url.rsplit(":", 1)[1]
    config = {**valid_config(moto), "endpoint_url": f"http://127.0.0.1:{port}\\@1.2.3.4:1"}  # stored before validation
    connector = S3Connector(config, policy=GUARDED)
    moto.calls.clear()
    with pytest.raises(ConnectorError) as caught:
        connector.check_bucket()
    assert caught.value.code == "invalid_config"
    assert "internal address" in caught.value.message
    with pytest.raises(ConnectorError):
        connector.check_write()
    assert moto.calls == []  # nothing signed reached loopback


def test_a_public_looking_endpoint_that_resolves_to_loopback_is_refused_at_send(moto):
    """check_host at client creation and the pinned address at send time agree: a host that resolves to loopback
    never receives a signed request, even if allowed when the client was made."""
    allowed_then = OutboundPolicy(allowed_networks=parse_networks(["127.0.0.0/8"]))
    connector = S3Connector({**valid_config(moto), "endpoint_url": moto.url}, policy=allowed_then)
    client = connector.aws.client("s3", endpoint_url=moto.url, timeout=(2, 2), path_style=True)
    connector.aws.http = OutboundClient(GUARDED)  # the send-time check is the guarded client's own
    moto.calls.clear()
    with pytest.raises(ConnectorError) as caught:
        connector.aws.call(client.head_bucket, "HeadBucket", Bucket="destinations-test")
    assert caught.value.code == "invalid_config"
    assert moto.calls == []


@pytest.mark.parametrize("host", ["[::127.0.0.1]", "[::169.254.169.254]", "[::a00:1]"])
def test_ipv4_compatible_ipv6_is_refused_by_the_guard(host):
    with pytest.raises(ConnectorError) as caught:
        GUARDED.check_host(host, 80)
    assert caught.value.code == "invalid_config"
    with pytest.raises(ConnectorError) as caught:
        OutboundClient(GUARDED).get(f"http://{host}:9/x")
    assert caught.value.code == "invalid_config"
    assert "internal address" in caught.value.message


def test_an_allowed_network_still_reaches_its_emulator():
    with WebhookReceiver() as receiver:
        policy = OutboundPolicy(allowed_networks=parse_networks(["127.0.0.0/8"]))
        assert OutboundClient(policy).get(receiver.url + "/").status_code < 500
