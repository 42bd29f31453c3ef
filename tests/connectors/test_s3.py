import socket
import time
from dataclasses import dataclass, field

import pytest

from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import USER_AGENT, OutboundPolicy, parse_networks
from connectors.s3 import PROBE_FOLDER, S3Connector
from destinations.config import mask_config
from tests.conftest import LOOPBACK
from tests.emulators.s3 import ACCESS_KEY_ID, DEFAULT_BUCKET, SECRET_ACCESS_KEY, S3Emulator, valid_config


@pytest.fixture(scope="module")
def moto_server():
    with S3Emulator() as server:
        yield server


@pytest.fixture
def s3(moto_server):
    """One moto server for the module (starting it costs time); state and steering are reset per test."""
    moto_server.enforce_iam(False)
    moto_server.reset()
    yield moto_server
    moto_server.enforce_iam(False)
    moto_server.reset()
    for key in moto_server.object_keys():
        moto_server.admin("s3").delete_object(Bucket=DEFAULT_BUCKET, Key=key)


@pytest.fixture
def redirected(s3):
    """The policy the service would build from CONNECTOR_BASE_URLS = {"s3": emulator.url}."""
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"s3": s3.url})


def run(config, policy):
    return {r.name: r for r in S3Connector(config, policy=policy).test()}


def with_endpoint(s3, **overrides):
    """An S3-compatible store at endpoint_url (moto's server standing in for MinIO or R2)."""
    return {**valid_config(s3), "endpoint_url": s3.url, **overrides}


def on_aws(s3, **overrides):
    """AWS itself (S3 and STS), redirected to moto by CONNECTOR_BASE_URLS (the `redirected` policy)."""
    return {**valid_config(s3), **overrides}


def assert_skipped_after(results, failed_step):
    names = [step.name for step in S3Connector.steps]
    for name in names[names.index(failed_step) + 1 :]:
        assert results[name].status == SKIPPED


def test_all_steps_pass_through_the_base_url_override(s3, redirected):
    results = run(valid_config(s3), redirected)
    assert [r.status for r in results.values()] == [PASSED] * 4
    assert results["connectivity"].details["s3_endpoint"] == "127.0.0.1"
    auth = results["authentication"]
    assert auth.details["account"] == "123456789012"
    assert "arn:aws:" in auth.message
    assert results["bucket"].details == {"bucket": DEFAULT_BUCKET, "region": "us-east-1"}
    write = results["write"]
    assert write.details["deleted"] is True
    assert write.details["probe_key"].startswith(f"exports/crm/{PROBE_FOLDER}/")
    # What AWS received: an unsigned reachability probe, then SigV4-signed calls for the configured key and region.
    assert s3.calls[0].operation == "root"
    assert "Authorization" not in s3.calls[0].headers
    signed = [c for c in s3.calls if c.operation != "root"]
    assert [c.operation for c in signed] == [
        "sts:GetCallerIdentity",
        "s3:HeadBucket",
        "s3:PutObject",
        "s3:DeleteObject",
    ]
    for call in signed:
        assert call.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")
        assert call.region == "us-east-1"
        assert SECRET_ACCESS_KEY not in str(call.headers)
    put = s3.calls_to("s3:PutObject")[0]
    assert put.path == f"/{DEFAULT_BUCKET}/{write.details['probe_key']}"
    assert s3.calls_to("s3:DeleteObject")[0].path == put.path
    assert s3.object_keys() == []  # the probe is gone


def test_assumes_the_role_with_the_external_id_before_anything_else(s3, policy):
    config = with_endpoint(s3, role_arn="arn:aws:iam::123456789012:role/writer", external_id="tenant-42")
    results = run(config, policy)
    assert [r.status for r in results.values()] == [PASSED] * 4
    assert "assumed-role/writer" in results["authentication"].details["assumed_role"]
    assume = s3.calls_to("sts:AssumeRole")[0].params
    assert assume["RoleArn"] == config["role_arn"]
    assert assume["ExternalId"] == "tenant-42"
    assert assume["RoleSessionName"] == "destinations-connection-test"
    # Everything after AssumeRole is signed with the role's temporary credentials.
    for call in s3.calls_to("s3:HeadBucket") + s3.calls_to("s3:PutObject"):
        assert "X-Amz-Security-Token" in call.headers
        assert ACCESS_KEY_ID not in call.headers["Authorization"]
    assert "SessionToken" not in str([r.as_dict() for r in results.values()])


def test_wrong_secret_is_auth_invalid_and_never_echoed(s3, redirected):
    key_id, _secret = s3.add_user("writer")
    s3.enforce_iam()
    results = run(on_aws(s3, access_key_id=key_id, secret_access_key="not-the-secret-value"), redirected)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["vendor_code"] == "SignatureDoesNotMatch"
    assert auth.error["retryable"] is False
    assert "secret access key does not match" in auth.error["remediation"]
    assert_skipped_after(results, "authentication")
    assert "not-the-secret-value" not in str([r.as_dict() for r in results.values()])


def test_unknown_access_key_is_auth_invalid(s3, redirected):
    s3.enforce_iam()
    results = run(on_aws(s3, access_key_id="AKIAUNKNOWN000000000"), redirected)
    assert results["authentication"].error["vendor_code"] == "InvalidClientTokenId"
    assert results["authentication"].error["code"] == "auth_invalid"
    assert SECRET_ACCESS_KEY not in str([r.as_dict() for r in results.values()])


def test_expired_token_is_token_expired(s3, redirected):
    s3.fail("sts:GetCallerIdentity", 403, "ExpiredToken")
    results = run(on_aws(s3), redirected)
    auth = results["authentication"]
    assert auth.error["code"] == "token_expired"
    assert auth.error["http_status"] == 403
    assert "expired" in auth.message
    assert_skipped_after(results, "authentication")


def test_an_s3_compatible_endpoint_is_never_asked_for_sts(s3, policy):
    results = run(with_endpoint(s3), policy)
    assert [r.status for r in results.values()] == [PASSED] * 4
    auth = results["authentication"]
    assert auth.details == {"sts": False, "proven_by": ["bucket", "write"]}
    assert "without STS" in auth.message
    assert not [c for c in s3.calls if c.operation.startswith("sts:")]
    assert [c.operation for c in s3.calls if c.operation != "root"] == [
        "s3:ListObjects",
        "s3:PutObject",
        "s3:DeleteObject",
    ]
    assert "STS" not in results["connectivity"].message and "sts_latency_ms" not in results["connectivity"].details


def test_a_wrong_secret_on_an_s3_compatible_endpoint_fails_the_bucket_step_as_auth_invalid(s3, policy):
    key_id, _secret = s3.add_user("compat-writer")
    s3.enforce_iam()
    results = run(with_endpoint(s3, access_key_id=key_id, secret_access_key="not-the-secret-value"), policy)
    assert results["authentication"].status == PASSED
    bucket = results["bucket"]
    assert bucket.error["code"] == "auth_invalid"
    assert bucket.error["vendor_code"] == "SignatureDoesNotMatch"
    assert results["write"].status == SKIPPED
    assert not [c for c in s3.calls if c.operation.startswith("sts:")]
    assert "not-the-secret-value" not in str([r.as_dict() for r in results.values()])


def test_an_unknown_key_on_an_s3_compatible_endpoint_is_auth_invalid(s3, policy):
    s3.enforce_iam()
    bucket = run(with_endpoint(s3, access_key_id="AKIAUNKNOWN000000000"), policy)["bucket"]
    assert bucket.error["code"] == "auth_invalid"
    assert bucket.error["vendor_code"] == "InvalidAccessKeyId"


def test_role_that_cannot_be_assumed_names_the_trust_policy(s3, redirected):
    key_id, secret = s3.add_user("no-assume", actions=["s3:*", "sts:GetCallerIdentity"])
    s3.enforce_iam()
    config = on_aws(
        s3, access_key_id=key_id, secret_access_key=secret, role_arn="arn:aws:iam::123456789012:role/writer"
    )
    results = run(config, redirected)
    auth = results["authentication"]
    assert auth.error["code"] == "insufficient_permissions"
    assert auth.error["vendor_code"] == "AccessDenied"
    assert "trust policy" in auth.error["remediation"]
    assert "not authorized to perform: sts:AssumeRole" in auth.message
    assert secret not in str([r.as_dict() for r in results.values()])


def test_missing_bucket_is_not_found(s3, policy):
    results = run(with_endpoint(s3, bucket="no-such-bucket-here"), policy)
    bucket = results["bucket"]
    assert bucket.error["code"] == "not_found"
    assert bucket.error["http_status"] == 404
    assert "no-such-bucket-here does not exist" in bucket.message
    assert results["write"].status == SKIPPED


@pytest.mark.parametrize("where", ["aws", "s3_compatible"])
def test_a_write_only_policy_passes_with_a_warning(s3, policy, redirected, where):
    """s3:PutObject alone is what a sync needs: HeadBucket's (or ListObjectsV2's) s3:ListBucket is not."""
    key_id, secret = s3.add_user(f"put-only-{where}", actions=["sts:GetCallerIdentity", "s3:PutObject"])
    s3.enforce_iam()
    credentials = {"access_key_id": key_id, "secret_access_key": secret}
    config = on_aws(s3, **credentials) if where == "aws" else with_endpoint(s3, **credentials)
    results = run(config, redirected if where == "aws" else policy)
    assert [r.status for r in results.values()] == [PASSED] * 4
    bucket = results["bucket"]
    assert bucket.details["listed"] is False
    assert "Syncs do not need s3:ListBucket" in bucket.details["warnings"][0]
    write = results["write"]
    assert write.details["proven"] == ["s3:PutObject on arn:aws:s3:::<bucket>/<prefix>/*"]
    assert write.details["deleted"] is False  # nor s3:DeleteObject: the probe is left, and the warning says so
    s3.enforce_iam(False)
    assert s3.object_keys() == [write.details["probe_key"]]


def test_a_bucket_without_list_permission_that_does_not_exist_fails_at_the_write(s3, policy):
    key_id, secret = s3.add_user("put-only-2", actions=["sts:GetCallerIdentity", "s3:PutObject"])
    s3.enforce_iam()
    config = with_endpoint(s3, access_key_id=key_id, secret_access_key=secret, bucket="no-such-bucket-here")
    results = run(config, policy)
    assert results["bucket"].status == PASSED
    assert results["write"].error["code"] == "not_found"


def test_an_object_lock_bucket_with_default_retention_accepts_the_probe(s3, policy):
    """AWS refuses a PutObject without Content-MD5 or a checksum there (moto too); the probe sends Content-MD5.
    Retention then keeps the probe's version, which the step reports instead of hiding it behind a delete marker."""
    s3.create_locked_bucket("locked-exports")
    results = run(with_endpoint(s3, bucket="locked-exports"), policy)
    write = results["write"]
    assert write.status == PASSED, write.message
    put = s3.calls_to("s3:PutObject")[0]
    assert put.headers["Content-Md5"]
    assert write.details["deleted"] is False
    assert "Object Lock retention keeps it" in write.details["warnings"][0]
    assert s3.object_versions("locked-exports") == [write.details["probe_key"]]


def test_an_object_lock_refusal_is_explained(s3, policy):
    """AWS's answer when a store still wants another integrity header (kopia/kopia#711, iterate-ch/cyberduck#15557)."""
    said = "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
    s3.fail("s3:PutObject", 400, "InvalidRequest", message=said)
    write = run(with_endpoint(s3), policy)["write"]
    assert write.error["code"] == "invalid_config"
    assert write.error["vendor_code"] == "InvalidRequest"
    assert "Object Lock with a default retention" in write.error["remediation"]


def test_bucket_in_another_region_names_the_right_region(s3, redirected):
    s3.create_bucket("eu-bucket-for-tests", "eu-west-1")
    results = run(on_aws(s3, bucket="eu-bucket-for-tests"), redirected)
    bucket = results["bucket"]
    assert bucket.error["code"] == "invalid_config"
    assert "is in eu-west-1" in bucket.message
    assert bucket.error["remediation"] == "Set region to eu-west-1."
    assert bucket.details == {"bucket_region": "eu-west-1"}


def test_permanent_redirect_from_s3_names_the_bucket_region(s3, redirected):
    s3.fail("s3:HeadBucket", 301, headers={"x-amz-bucket-region": "ap-southeast-2"})
    results = run(on_aws(s3), redirected)
    bucket = results["bucket"]
    assert bucket.error["code"] == "invalid_config"
    assert bucket.error["http_status"] == 301
    assert bucket.error["remediation"] == "Set region to ap-southeast-2."


def test_denied_put_is_insufficient_permissions_naming_the_prefix(s3, policy):
    key_id, secret = s3.add_user("read-only", deny=["s3:PutObject"])
    s3.enforce_iam()
    results = run(with_endpoint(s3, access_key_id=key_id, secret_access_key=secret), policy)
    write = results["write"]
    assert write.error["code"] == "insufficient_permissions"
    assert write.error["vendor_code"] == "AccessDenied"
    assert f"s3:PutObject on arn:aws:s3:::{DEFAULT_BUCKET}/exports/crm/*" in write.error["remediation"]
    s3.enforce_iam(False)
    assert s3.object_keys() == []


def test_denied_delete_passes_but_reports_the_left_over_probe(s3, policy):
    key_id, secret = s3.add_user("no-delete", deny=["s3:DeleteObject"])
    s3.enforce_iam()
    results = run(with_endpoint(s3, access_key_id=key_id, secret_access_key=secret), policy)
    write = results["write"]
    assert write.status == PASSED
    assert write.details["deleted"] is False
    assert write.details["cleanup_error"] == "insufficient_permissions"
    assert "could not be deleted (AccessDenied)" in write.details["warnings"][0]
    assert "Warning:" in write.message
    s3.enforce_iam(False)
    assert s3.object_keys() == [write.details["probe_key"]]


def test_slow_down_is_rate_limited_and_retryable(s3, policy):
    s3.rate_limit("s3:PutObject")
    results = run(with_endpoint(s3), policy)
    write = results["write"]
    assert write.error["code"] == "rate_limited"
    assert write.error["vendor_code"] == "SlowDown"
    assert write.error["retryable"] is True
    assert len(s3.calls_to("s3:PutObject")) == 2  # one retry, no more


def test_server_error_is_vendor_error(s3, redirected):
    s3.server_error("s3:HeadBucket")
    results = run(on_aws(s3), redirected)
    assert results["bucket"].error["code"] == "vendor_error"
    assert results["bucket"].error["retryable"] is True
    assert results["write"].status == SKIPPED


def test_slow_answer_is_timeout(s3, redirected):
    s3.slow("s3:HeadBucket", 1.0)
    connector = S3Connector(on_aws(s3), policy=redirected)
    connector.run_step(connector.steps[1])
    result = connector.run_step(connector.steps[2], deadline=time.monotonic() + 0.2)
    assert result.status == FAILED
    assert result.error["code"] == "timeout"
    assert result.error["retryable"] is True


def test_slow_endpoint_times_out_connectivity(s3, policy):
    s3.slow("root", 1.0)
    connector = S3Connector(with_endpoint(s3), policy=policy)
    result = connector.run_step(connector.steps[0], deadline=time.monotonic() + 0.2)
    assert result.error["code"] == "timeout"


def test_refused_connection_skips_everything_else(policy):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    results = run({**valid_config(None), "endpoint_url": f"http://127.0.0.1:{port}"}, policy)
    assert results["connectivity"].error["code"] == "connection_refused"
    assert_skipped_after(results, "connectivity")


def test_private_endpoint_is_refused_before_boto3_sends_anything(s3):
    guarded = OutboundPolicy()  # the production default: no private or loopback networks
    connector = S3Connector(with_endpoint(s3), policy=guarded)
    results = {r.name: r for r in connector.test()}
    assert results["connectivity"].error["code"] == "invalid_config"
    assert "internal address" in results["connectivity"].message
    with pytest.raises(ConnectorError) as caught:
        connector.check_bucket()
    assert caught.value.code == "invalid_config"
    assert s3.calls == []


def test_unresolvable_endpoint_is_dns_for_requests_and_for_boto3(policy):
    connector = S3Connector({**valid_config(None), "endpoint_url": "https://no-such-store.invalid"}, policy=policy)
    assert connector.run_step(connector.steps[0]).error["code"] == "dns"
    assert connector.run_step(connector.steps[2]).error["code"] == "dns"


@dataclass(frozen=True)
class RecordingPolicy(OutboundPolicy):
    checked: list = field(default_factory=list)

    def check_host(self, host, port):
        self.checked.append((host, port))
        super().check_host(host, port)


def test_every_boto3_request_is_sent_by_the_guarded_client(s3):
    policy = RecordingPolicy(allowed_networks=parse_networks(LOOPBACK))
    results = run(with_endpoint(s3, role_arn="arn:aws:iam::123456789012:role/writer"), policy)
    assert [r.status for r in results.values()] == [PASSED] * 4
    signed = [c for c in s3.calls if c.operation != "root"]
    assert len(signed) == 4  # AssumeRole, ListObjectsV2, PutObject, DeleteObject
    # botocore signed them; the guarded requests session (its User-Agent, not botocore's) sent them.
    assert {c.headers["User-Agent"] for c in signed} == {USER_AGENT}
    port = int(s3.url.rsplit(":", 1)[1])
    # The endpoint is also checked when each client is made (AssumeRole, ListObjectsV2, Put+Delete).
    assert policy.checked == [("127.0.0.1", port)] * 3


def test_config_validation_names_fields():
    errors = S3Connector.validate_config(
        {
            "bucket": "Not_A_Bucket",
            "region": "moon-1/../x",
            "access_key_id": "AKIA",
            "secret_access_key": "",
            "file_format": "xml",
            "role_arn": "writer",
            "endpoint_url": "ftp://store",
            "extra": 1,
        }
    )
    assert set(errors) == {
        "config.bucket",
        "config.region",
        "config.secret_access_key",
        "config.file_format",
        "config.role_arn",
        "config.endpoint_url",
        "config.extra",
    }
    assert S3Connector.validate_config({})["config.bucket"] == ["This field is required."]
    semantic = S3Connector.validate_config({**valid_config(None), "prefix": "/abs", "external_id": "x-123"})
    assert set(semantic) == {"config.prefix", "config.external_id"}


def test_secret_is_masked_and_split():
    config = valid_config(None)
    assert S3Connector.secret_fields() == ["secret_access_key"]
    assert mask_config(S3Connector, config)["secret_access_key"] == "********"


def test_fields_are_free_form_with_the_file_options():
    fields = S3Connector({**valid_config(None), "file_format": "csv"}).fields()
    assert fields.source == "static"
    assert fields.fields == []
    assert fields.object == f"s3://{DEFAULT_BUCKET}/exports/crm/"
    assert fields.options["file_format"] == "csv"
    assert fields.options["compression"] == "gzip"
    assert (
        fields.options["key_template"] == "s3://destinations-test/exports/crm/{sync_id}/{run_id}/part-{part:05d}.csv.gz"
    )
    assert fields.options["format_options"]["content_type"] == "text/csv"
    assert fields.new_fields == "*" and fields.sync_modes == ("insert",)
