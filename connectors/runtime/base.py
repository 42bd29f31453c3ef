"""The connector contract: one class per destination type, driven the same way by the API, admin and CLI.

A connector takes a config (plain dict, secrets decrypted) and an OutboundPolicy; it knows nothing of
Django. It declares its schema and its ordered steps, runs them one at a time (`test()` yields a
StepResult per step) and describes the fields a sync can map to (`describe_fields()`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from .errors import ConnectorError, ErrorCode
from .hosts import credential_host_errors
from .http import OutboundClient, OutboundPolicy, rebase_url
from .redaction import MASK, Redactor  # noqa: F401  (MASK is re-exported: connectors.runtime.base.MASK)

if TYPE_CHECKING:  # for the annotation only: oauth.py reads the registry, which imports this module
    from .oauth import OAuthProvider

logger = logging.getLogger(__name__)

DEFAULT_FIELDS_TIMEOUT = 30.0
# Keys of a JSON-valued secret (a service-account key file) whose values are secrets on their own.
_SECRET_KEY = re.compile(r"private_key|secret|token|password|credential", re.I)
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Requirement:
    """A privilege the first sync needs, declared on the step that proves it.

    A green test must mean the first sync works, so each privilege a sync's writes need is either proved by a
    vendor-documented method that changes nothing in the customer's account (`proof`), or reported as
    unproven (`unproven`: why no such method exists). `source` is the vendor page saying the sync needs it.
    """

    privilege: str
    source: str
    proof: str = ""
    unproven: str = ""
    grant: str = ""  # where the customer grants it, named in "unproven" reports

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v}


@dataclass(frozen=True)
class Sunset:
    """A dated thing a connector depends on (an API version, an OAuth endpoint) and the page giving the date."""

    what: str
    on: date
    source: str
    remedy: str


@dataclass(frozen=True)
class Step:
    """One check, in order. `required`: the steps after it need it to pass (else they are skipped)."""

    name: str
    description: str
    timeout: float = 10.0
    required: bool = True
    writes: bool = False
    proves: tuple[Requirement, ...] = ()

    def as_dict(self) -> dict:
        data = asdict(self)
        data["proves"] = [requirement.as_dict() for requirement in self.proves]
        return data


@dataclass
class StepResult:
    name: str
    status: str
    message: str
    duration_ms: int = 0
    error: dict | None = None
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = {"name": self.name, "status": self.status, "message": self.message, "duration_ms": self.duration_ms}
        if self.error is not None:
            data["error"] = self.error
        if self.details:
            data["details"] = self.details
        return data

    @classmethod
    def failure(cls, name: str, error: ConnectorError, duration_ms: int = 0) -> StepResult:
        return cls(name, FAILED, error.message, duration_ms, error=error.as_dict(), details=error.details)

    @classmethod
    def skipped(cls, name: str, after: str) -> StepResult:
        return cls(name, SKIPPED, f"Skipped because the '{after}' step did not pass.")


@dataclass
class DestinationField:
    """A field a Reverse ETL or Sync mapping can target."""

    name: str
    label: str
    type: str
    required: bool = False
    identifier: bool = False
    createable: bool = True
    updateable: bool = True
    must_hash: bool = False
    nullable: bool | None = None
    # Warehouses: among the possible sync keys (`identifier`), the ones a primary key, unique or NOT NULL
    # constraint makes likely to identify a row. None (omitted) for vendors without that notion.
    recommended_key: bool | None = None
    description: str = ""

    def as_dict(self) -> dict:
        data = asdict(self)
        for optional in ("nullable", "recommended_key"):
            if data[optional] is None:
                del data[optional]
        if not data["description"]:
            del data["description"]
        return data


@dataclass
class FieldsDescription:
    object: str
    source: str  # "live" (read from the vendor now) or "static" (the vendor's fixed schema)
    fields: list[DestinationField]
    options: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = {"object": self.object, "source": self.source, "fields": [f.as_dict() for f in self.fields]}
        if self.options:
            data["options"] = self.options
        return data


class Connector:
    """Base class. Subclasses set the class attributes and write one `check_<step name>` method per step.

    A check method returns the success message (or `(message, details)`) and raises ConnectorError on
    failure. Later checks may use state earlier ones left on `self` (an access token, say).
    """

    type: ClassVar[str]
    label: ClassVar[str]
    auth_method: ClassVar[str] = ""
    config_schema: ClassVar[dict]
    # A realistic config for the API's documentation (each request body's example): valid against
    # config_schema, with placeholders for secrets and pasted files.
    example_config: ClassVar[dict]
    # Needs no vendor account, so the API's documentation shows its example first.
    try_first: ClassVar[bool] = False
    steps: ClassVar[tuple[Step, ...]]
    # The vendor's fixed API host; CONNECTOR_BASE_URLS[type] replaces it (sandbox, emulator).
    default_base_url: ClassVar[str] = ""
    # The vendor API version used when the config names none, and the date the vendor retires it (None: no date
    # published yet), with the page that says so; destinations' system check warns before that date.
    default_api_version: ClassVar[str] = ""
    api_version_sunset: ClassVar[date | None] = None
    api_version_doc: ClassVar[str] = ""
    # Other dated dependencies (an OAuth endpoint's retirement, say), checked with the version's sunset.
    sunsets: ClassVar[tuple[Sunset, ...]] = ()
    # How a user Connects with OAuth (runtime/oauth.py: endpoints, scopes, login hosts), for a type that offers it.
    oauth: ClassVar[OAuthProvider | None] = None

    def __init__(self, config: Mapping[str, Any], *, policy: OutboundPolicy | None = None):
        self.config = dict(config)
        self.policy = policy or OutboundPolicy()
        self.http = OutboundClient(self.policy)
        # Secrets the vendor replaced during this run (a rotated refresh token, say): the old value no longer
        # works, so whoever drives the connector must store these in place of the old ones.
        self.rotated_secrets: dict[str, str] = {}
        self._redactor = Redactor(self.secret_values())
        # Requirements the running step could not prove with this config (a key type with no introspection), and
        # those this config does not need (a list privilege without a list): neither is reported as proven.
        self._unproven: list[dict] = []
        self._not_needed: set[str] = set()

    # --- schema and secrets -------------------------------------------------------------------

    @classmethod
    def secret_fields(cls) -> list[str]:
        """Top-level config keys that are secret; for an object-valued one, each of its values is."""
        props = cls.config_schema.get("properties", {})
        return [name for name, spec in props.items() if spec.get("writeOnly")]

    @classmethod
    def validate_config(cls, config: Any, *, partial: bool = False) -> dict[str, list[str]]:
        """Errors keyed by field path (`config.instance_url`); empty when valid.

        `partial` drops `required`, for shared-connection credentials that fill only some fields.
        """
        errors: dict[str, list[str]] = {}
        for error in _validator(cls, partial).iter_errors(config):
            path = ".".join(["config", *(str(p) for p in error.absolute_path)])
            if error.validator == "required":
                missing = error.message.split("'")[1] if "'" in error.message else ""
                path = f"{path}.{missing}" if missing else path
                message = "This field is required."
            elif error.validator == "additionalProperties":
                extras = sorted(set(error.instance) - set(error.schema.get("properties", {})))
                for extra in extras:
                    errors.setdefault(f"{path}.{extra}", []).append("Unknown field for this destination type.")
                continue
            else:
                message = cls._describe_schema_error(error)
            errors.setdefault(path, []).append(message)
        if not errors and isinstance(config, dict):
            for path, message in (*credential_host_errors(cls.config_schema, config), *cls.check_config(config)):
                errors.setdefault(f"config.{path}", []).append(message)
        return errors

    @staticmethod
    def _describe_schema_error(error) -> str:
        """jsonschema messages echo the value; secrets must not reach a 400 body, so describe, don't quote."""
        validator, expected = error.validator, error.validator_value
        if validator == "type":
            return f"Must be of type {expected}."
        if validator == "enum":
            return "Must be one of: " + ", ".join(str(v) for v in expected) + "."
        if validator == "format":
            return f"Must be a valid {expected}."
        if validator == "pattern":
            return error.schema.get("x-pattern-message") or f"Must match the pattern {expected}."
        if validator in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "const"):
            return f"Must satisfy {validator} {expected}."
        return "Invalid value."

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        """Checks beyond JSON Schema (a private key that must parse, say): [(field, message)]."""
        return []

    @classmethod
    def dated_dependencies(cls) -> list[Sunset]:
        """Everything with a retirement date this connector relies on: its default API version, then the rest."""
        dated = list(cls.sunsets)
        if cls.api_version_sunset is not None:
            version = Sunset(
                f"the default API version {cls.default_api_version}",
                cls.api_version_sunset,
                cls.api_version_doc,
                f"Move the {cls.type} connector's default API version to a current one ({cls.api_version_doc}).",
            )
            dated.insert(0, version)
        return dated

    @classmethod
    def describe_type(cls) -> dict:
        return {
            "type": cls.type,
            "label": cls.label,
            "auth_method": cls.auth_method,
            "config_schema": cls.config_schema,
            "secret_fields": cls.secret_fields(),
            # The fixed vendor host that CONNECTOR_BASE_URLS[type] redirects (empty: hosts come from the config).
            "default_base_url": cls.default_base_url,
            "steps": [step.as_dict() for step in cls.steps],
        }

    # --- running ------------------------------------------------------------------------------

    def secret_values(self) -> list[str]:
        """Every configured secret string (header values included, and the secret members of a pasted JSON
        key file): what must never be shown."""
        values = []
        for name in self.secret_fields():
            value = self.config.get(name)
            values.extend(value.values() if isinstance(value, dict) else [value])
            if isinstance(value, str) and value.lstrip().startswith("{"):
                try:
                    members = json.loads(value)
                except ValueError:
                    members = {}
                if isinstance(members, dict):
                    values.extend(v for k, v in members.items() if _SECRET_KEY.search(str(k)))
        return [value for value in values if isinstance(value, str) and value]

    def remember_secret(self, *values: str | None) -> None:
        """A credential this run obtained (an access token from a refresh, say): masked like the configured
        ones wherever it shows up. What the HTTP client sends is remembered without this."""
        self._redactor.add(*values)

    def redactor(self) -> Redactor:
        """The run's redactor, knowing every secret so far: configured, sent, obtained and rotated."""
        self._redactor.add(*self.http.sent_credentials, *self.rotated_secrets.values())
        return self._redactor

    def redacted_result(self, result: StepResult) -> StepResult:
        """The one redaction point of step results: message, error (remediation included) and details."""
        redactor = self.redactor()
        result.message = redactor.text(result.message)
        if result.error is not None:
            result.error = redactor.deep(result.error)
        result.details = redactor.deep(result.details)
        return result

    def redacted_error(self, error: ConnectorError) -> ConnectorError:
        """The same for a ConnectorError leaving the connector (from describe_fields)."""
        redactor = self.redactor()
        error.message = redactor.text(error.message)
        error.args = (error.message,)
        error.remediation = redactor.text(error.remediation)
        if error.vendor_code:
            error.vendor_code = redactor.text(error.vendor_code)
        error.details = redactor.deep(error.details)
        return error

    def report_unproven(self, privilege: str, reason: str, *, grant: str = "") -> None:
        """Called by a check: this privilege cannot be proved for this config; the step still passes and says so."""
        entry = {"privilege": privilege, "reason": reason}
        if grant:
            entry["grant"] = grant
        self._unproven.append(entry)

    def report_not_needed(self, privilege: str) -> None:
        """Called by a check: this config's sync never uses this privilege, so it is neither proven nor unproven."""
        self._not_needed.add(privilege)

    def abort(self) -> None:
        """Stop whatever this connector is doing over HTTP, from another thread (the test ran out of time)."""
        self.http.abort()

    def reach(self, *urls: str, method: str = "GET", **details: Any) -> tuple[str, dict]:
        """The connectivity step: one credential-less request per host. Any HTTP answer proves DNS, TCP and
        (for https) TLS; the credentials are checked by the next step."""
        hosts = []
        for url in urls:
            started = time.monotonic()
            response = self.http.request(method, url, allow_redirects=False)
            parts = urlsplit(url)
            hosts.append(
                {
                    "host": parts.hostname,
                    "tls": parts.scheme == "https",
                    "http_status": response.status_code,
                    "latency_ms": _elapsed_ms(started),
                }
            )
        said = "; ".join(f"{h['host']} in {h['latency_ms']} ms (HTTP {h['http_status']})" for h in hosts)
        tls = ""
        if all(h["tls"] for h in hosts):
            tls = " with a valid TLS certificate" if len(hosts) == 1 else " with valid TLS certificates"
        return f"Reached {said}{tls}.", {**(hosts[0] if len(hosts) == 1 else {"hosts": hosts}), **details}

    def vendor_url(self, url: str) -> str:
        """A fixed vendor URL, redirected to CONNECTOR_BASE_URLS[type] when an operator set one."""
        return rebase_url(url, self.policy.base_urls.get(self.type))

    def test(self, *, deadline: float | None = None) -> Iterator[StepResult]:
        """Run the steps in order, yielding each result as it finishes."""
        blocked_by: str | None = None
        try:
            for step in self.steps:
                if blocked_by is not None:
                    yield StepResult.skipped(step.name, blocked_by)
                    continue
                result = self.run_step(step, deadline=deadline)
                if result.status == FAILED and step.required:
                    blocked_by = step.name
                yield result
        finally:
            self.http.close()

    def run_step(self, step: Step, *, deadline: float | None = None) -> StepResult:
        """One step, its result redacted: nothing a vendor or a check said leaves unmasked or uncapped."""
        return self.redacted_result(self._run_step(step, deadline=deadline))

    def _run_step(self, step: Step, *, deadline: float | None = None) -> StepResult:
        started = time.monotonic()
        timeout = step.timeout if deadline is None else max(0.1, min(step.timeout, deadline - started))
        self.http.read_timeout = timeout
        self.http.start_step(started + timeout)
        self._unproven = []
        self._not_needed = set()
        try:
            outcome = getattr(self, f"check_{step.name}")()
        except ConnectorError as error:
            return StepResult.failure(step.name, error, _elapsed_ms(started))
        except Exception as exc:  # a bug or an unmapped vendor answer: report it, never crash the run
            logger.warning("connector %s step %s raised %s", self.type, step.name, type(exc).__name__)
            error = ConnectorError(
                ErrorCode.VENDOR_ERROR,
                f"The '{step.name}' step failed unexpectedly ({type(exc).__name__}).",
                remediation="Retry; if it keeps failing, report it with the test run id.",
            )
            return StepResult.failure(step.name, error, _elapsed_ms(started))
        message, details = outcome if isinstance(outcome, tuple) else (outcome, {})
        message, details = self._with_requirements(step, message, dict(details))
        return StepResult(step.name, PASSED, message, _elapsed_ms(started), details=details)

    def _with_requirements(self, step: Step, message: str, details: dict) -> tuple[str, dict]:
        """A passed step names what it proved and, never silently, what it could not."""
        unproven = list(self._unproven)
        reported = {entry["privilege"] for entry in unproven} | self._not_needed
        for requirement in step.proves:
            if requirement.unproven and requirement.privilege not in reported:
                entry = {"privilege": requirement.privilege, "reason": requirement.unproven}
                if requirement.grant:
                    entry["grant"] = requirement.grant
                unproven.append(entry)
                reported.add(requirement.privilege)
        proven = [r.privilege for r in step.proves if r.proof and r.privilege not in reported]
        if proven:
            details["proven"] = proven
        if unproven:
            details["unproven"] = unproven
            names = ", ".join(entry["privilege"] for entry in unproven)
            message = f"{message} Not proven before the first sync: {names} (see details)."
        return message, details

    def describe_fields(self) -> FieldsDescription:
        raise NotImplementedError

    def fields(self, *, timeout: float = DEFAULT_FIELDS_TIMEOUT) -> FieldsDescription:
        """describe_fields() under a total deadline, its errors redacted, the HTTP session closed afterwards."""
        started = time.monotonic()
        self.http.read_timeout = min(timeout, 20.0)
        self.http.start_step(started + timeout)
        try:
            return self.describe_fields()
        except ConnectorError as error:
            raise self.redacted_error(error) from None
        except Exception as exc:  # a bug or an unmapped vendor answer: a vendor_error, never a crash
            logger.warning("connector %s describe_fields raised %s", self.type, type(exc).__name__)
            raise ConnectorError(
                ErrorCode.VENDOR_ERROR,
                f"Reading the fields failed unexpectedly ({type(exc).__name__}).",
                remediation="Retry; if it keeps failing, report it.",
            ) from None
        finally:
            self.http.close()


def unproven_requirements(steps: Iterable[Mapping]) -> list[dict]:
    """Every requirement a run's passed steps could not prove, each with its step: what `done`, the admin and the
    CLI list, so a green test never hides a privilege the first sync may lack."""
    unproven = []
    for step in steps:
        if step.get("status") == PASSED:
            unproven.extend(
                {"step": step.get("name"), **entry} for entry in (step.get("details") or {}).get("unproven", [])
            )
    return unproven


@cache
def _validator(connector_cls: type[Connector], partial: bool) -> Draft202012Validator:
    """One compiled validator per type (and per partial flag): validating is on every test's path."""
    schema = connector_cls.config_schema
    if partial:
        schema = {k: v for k, v in schema.items() if k not in ("required", "allOf", "oneOf", "anyOf")}
    return Draft202012Validator(schema)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
