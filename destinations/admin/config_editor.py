"""The admin's config editor: a form generated from the type's JSON Schema, drawn by django-jsonform's widget.

The connector's schema stays the one source of truth; `editor_schema` only translates it into what the
widget draws (titles, help texts, selects, password inputs, key/value rows for a secret object). Validation
stays with the services. Secrets never reach the page: the editor always holds them blank, and what the form
sends is turned into the services' terms by `submitted_config` (a blank secret keeps the stored one, through
the config module's `merge_config`, which the services call).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django_jsonform.utils import ErrorMap
from django_jsonform.widgets import JSONFormWidget

from connectors.runtime.base import MASK, Connector

from .display import code_spans_as_text

KEEP_HINT = "Stored: leave blank to keep it, or type a new value to replace it."
# Secrets that are several lines long (a PEM key, a JSON key file) lose their line breaks in a password input.
MULTILINE_MEDIA_TYPES = ("application/x-pem-file", "application/json")


ACRONYMS = {"url": "URL", "id": "ID", "api": "API", "arn": "ARN", "json": "JSON", "ttl": "TTL"}


def field_title(name: str, spec: Mapping[str, Any]) -> str:
    """A label for a config key: the schema's `title`, else the key in words ("api_key" -> "API key")."""
    if spec.get("title"):
        return spec["title"]
    words = [ACRONYMS.get(word, word) for word in name.split("_") if word]
    if not words:
        return name
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def is_multiline(spec: Mapping[str, Any]) -> bool:
    return spec.get("contentMediaType") in MULTILINE_MEDIA_TYPES


def editor_schema(connector_cls: type[Connector], stored: Mapping[str, Any] | None = None) -> dict:
    """The type's schema as the widget draws it. `stored`: the keys already stored (their secrets say so)."""
    schema = connector_cls.config_schema
    stored = stored or {}
    required = set(schema.get("required", []))
    secrets = set(connector_cls.secret_fields())
    properties = {}
    for name, spec in schema.get("properties", {}).items():
        help_text = code_spans_as_text(spec.get("description", ""))
        field: dict[str, Any] = {"title": field_title(name, spec), "required": name in required}
        if spec.get("type") == "object":
            field.update(type="object", properties={})
            field["additionalProperties"] = {"type": "string", **({"format": "password"} if name in secrets else {})}
            if name in secrets:
                help_text += " Add a row per name. " + (KEEP_HINT if stored.get(name) else "")
            field["description"] = help_text.strip()
        else:
            field["type"] = spec.get("type", "string")
            if "enum" in spec:
                field["enum"] = list(spec["enum"])
            if "default" in spec:
                field["default"] = spec["default"]
            for bound in ("minimum", "maximum"):
                if bound in spec:
                    field[bound] = spec[bound]
            if name in secrets:
                if is_multiline(spec):
                    field["widget"] = "textarea"
                else:
                    field["format"] = "password"
                if stored.get(name):
                    field["placeholder"] = "•••••••• (stored)"
                    help_text = f"{help_text} {KEEP_HINT}".strip()
            elif spec.get("examples"):
                field["placeholder"] = str(spec["examples"][0])
            field["help_text"] = help_text
        properties[name] = field
    return {
        "type": "object",
        "title": f"{connector_cls.label} settings",
        "description": code_spans_as_text(schema.get("description", "")),
        "properties": properties,
    }


def editor_value(connector_cls: type[Connector] | None, config: Mapping[str, Any]) -> dict:
    """What the editor may hold: the config with every secret blank (a secret object keeps its names only)."""
    if connector_cls is None:
        return {}
    value = dict(config)
    for name in connector_cls.secret_fields():
        if isinstance(value.get(name), dict):
            value[name] = dict.fromkeys(value[name], "")
        elif name in value:
            value[name] = ""
    return value


def typed_secrets(connector_cls: type[Connector], submitted: Mapping[str, Any]) -> list[str]:
    """The paths of the secrets typed into a form (not blank, not ********): shown blank again, so named."""
    paths = []
    for name in connector_cls.secret_fields():
        value = submitted.get(name)
        if isinstance(value, dict):
            paths.extend(f"{name}.{k}" for k, v in value.items() if v not in (None, "", MASK))
        elif value not in (None, "", MASK):
            paths.append(name)
    return paths


def _blank(value: Any) -> bool:
    return value is None or value == ""


def submitted_config(connector_cls: type[Connector], submitted: Mapping[str, Any], stored: Mapping[str, Any]) -> dict:
    """The editor's values in the services' terms, as a whole document over `stored`.

    A blank field is not set (null: a stored value is removed); a blank secret, or a blank row of a secret
    object, keeps the stored value (********); a row removed from a secret object is removed.
    """
    secrets = set(connector_cls.secret_fields())
    config: dict[str, Any] = {}
    for key in [*submitted, *(k for k in stored if k not in submitted)]:
        value, kept = submitted.get(key), stored.get(key)
        if isinstance(value, dict) or isinstance(kept, dict):
            kept = kept if isinstance(kept, dict) else {}
            rows = {str(k).strip(): v for k, v in (value if isinstance(value, dict) else {}).items() if str(k).strip()}
            if key in secrets:
                rows = {k: MASK if _blank(v) else v for k, v in rows.items() if not _blank(v) or k in kept}
            else:
                rows = {k: v for k, v in rows.items() if not _blank(v)}
            config[key] = rows or None
        elif key in secrets and _blank(value):
            config[key] = MASK if not _blank(kept) else None
        else:
            config[key] = None if _blank(value) else value
    return {k: v for k, v in config.items() if v is not None or k in stored}


class ConfigEditorWidget(JSONFormWidget):
    """django-jsonform's editor; `errors` maps config paths (`config.url`) onto the inputs they concern.
    key_input.js asks for a new key (a header name) inline, where the editor would open a native prompt()."""

    @property
    def media(self):
        return super().media + forms.Media(
            js=["destinations/key_input.js"], css={"all": ["destinations/key_input.css"]}
        )

    def set_errors(self, errors: Mapping[str, list[str]], prefix: str) -> None:
        error_map = ErrorMap()
        for path, messages in errors.items():
            if path.startswith(prefix + "."):
                error_map.append(coords=path.split(".")[1:2], msg=list(messages))
        if error_map:
            self.add_error(error_map)


class ConfigEditorField(forms.JSONField):
    """The config as the editor sends it (a JSON object); the page only ever gets it with secrets blank."""

    default_error_messages = {"invalid": "The config editor sent something that is not a JSON object."}

    def __init__(self, *, connector_cls: type[Connector] | None = None, stored: Mapping | None = None, **kwargs):
        self.connector_cls = connector_cls
        schema = editor_schema(connector_cls, stored) if connector_cls else {"type": "object", "keys": {}}
        kwargs.setdefault("widget", ConfigEditorWidget(schema=schema))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return value

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            value = {}
        return json.dumps(editor_value(self.connector_cls, value if isinstance(value, dict) else {}))

    def bound_data(self, data, initial):
        try:
            return json.loads(data) if isinstance(data, str) else data
        except json.JSONDecodeError:
            return {}
