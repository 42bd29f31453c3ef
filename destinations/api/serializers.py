"""Request and response shapes. Fields are listed explicitly; secrets leave only as ********."""

from __future__ import annotations

from rest_framework import serializers

from connectors.runtime.registry import UnknownConnectorType, get_connector_class

from ..config import mask_config
from ..models import AuditEvent, Connection, Destination, DestinationStatus, TestRun, TestRunStatus
from ..representation import destination_as_dict


def masked(destination_type: str, config: dict) -> dict:
    try:
        return mask_config(get_connector_class(destination_type), config)
    except UnknownConnectorType:  # a type whose connector was removed: show nothing that could be secret
        return {}


class StrictInputSerializer(serializers.Serializer):
    """Rejects keys it does not know (a typo must not be silently ignored); `ignored` keys are read-only."""

    ignored: tuple[str, ...] = ()

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) - set(self.ignored)
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in sorted(unknown)})
        return attrs


class DestinationSerializer(serializers.ModelSerializer):
    """The destination object, exactly as the contract fixes it (the declared fields document it)."""

    workspace_id = serializers.UUIDField(read_only=True)
    connection_id = serializers.UUIDField(read_only=True, allow_null=True)
    config = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=DestinationStatus.choices, read_only=True)
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Destination
        fields = [
            "id",
            "workspace_id",
            "connection_id",
            "name",
            "destination_type",
            "config",
            "status",
            "status_error",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_config(self, destination: Destination) -> dict:
        return destination.config  # stored masked

    def to_representation(self, destination: Destination) -> dict:
        return destination_as_dict(destination)


DESTINATION_READ_ONLY = ("id", "workspace_id", "status", "status_error", "created_by", "created_at", "updated_at")


class DestinationCreateSerializer(StrictInputSerializer):
    ignored = DESTINATION_READ_ONLY
    name = serializers.CharField(max_length=200)
    destination_type = serializers.CharField(max_length=40)
    config = serializers.DictField()
    connection_id = serializers.UUIDField(required=False, allow_null=True)


class DestinationUpdateSerializer(StrictInputSerializer):
    ignored = DESTINATION_READ_ONLY
    name = serializers.CharField(max_length=200, required=False)
    destination_type = serializers.CharField(max_length=40, required=False)
    config = serializers.DictField(required=False)
    connection_id = serializers.UUIDField(required=False, allow_null=True)


class ConnectionTestNewSerializer(StrictInputSerializer):
    destination_type = serializers.CharField(max_length=40)
    config = serializers.DictField()
    connection_id = serializers.UUIDField(required=False, allow_null=True)


class ConnectionTestStoredSerializer(StrictInputSerializer):
    config = serializers.DictField(required=False, help_text="Keys that override the stored config for this test.")


class ConnectionSerializer(serializers.ModelSerializer):
    workspace_id = serializers.UUIDField(read_only=True)
    credentials = serializers.SerializerMethodField()
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)
    # The OAuth token lifecycle (all null/empty for credentials entered by hand).
    authorized_by = serializers.UUIDField(source="authorized_by_id", read_only=True, allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Connection
        fields = [
            "id",
            "workspace_id",
            "name",
            "destination_type",
            "credentials",
            "created_by",
            "created_at",
            "updated_at",
            "authorized_by",
            "authorized_at",
            "scopes",
            "expires_at",
            "last_refreshed_at",
            "last_refresh_error",
            "refresh_token_expires_at",
            "authorized_account",
        ]
        read_only_fields = fields

    def get_credentials(self, connection: Connection) -> dict:
        return masked(connection.destination_type, connection.credentials)


CONNECTION_READ_ONLY = (
    "id",
    "workspace_id",
    "created_by",
    "created_at",
    "updated_at",
    "authorized_by",
    "authorized_at",
    "scopes",
    "expires_at",
    "last_refreshed_at",
    "last_refresh_error",
    "refresh_token_expires_at",
    "authorized_account",
)


class ConnectionCreateSerializer(StrictInputSerializer):
    ignored = CONNECTION_READ_ONLY
    name = serializers.CharField(max_length=200)
    destination_type = serializers.CharField(max_length=40)
    credentials = serializers.DictField()


class ConnectionUpdateSerializer(StrictInputSerializer):
    ignored = CONNECTION_READ_ONLY
    name = serializers.CharField(max_length=200, required=False)
    destination_type = serializers.CharField(max_length=40, required=False)
    credentials = serializers.DictField(required=False)


class StepResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["passed", "failed", "skipped"])
    message = serializers.CharField()
    duration_ms = serializers.IntegerField()
    error = serializers.DictField(required=False, help_text="code, retryable, remediation (+ http_status, ...)")
    details = serializers.DictField(required=False)


class StreamTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The stream token (also in events_url).")
    expires_at = serializers.DateTimeField(help_text="After this, ask for a new one.")
    events_url = serializers.URLField(help_text="The run's events, for `new EventSource(events_url)`.")


class TestRunSerializer(serializers.ModelSerializer):
    __test__ = False

    destination_id = serializers.UUIDField(read_only=True, allow_null=True)
    actor = serializers.UUIDField(source="actor_id", read_only=True, allow_null=True)
    steps = StepResultSerializer(many=True, read_only=True)
    status = serializers.ChoiceField(
        choices=TestRunStatus.choices, read_only=True, help_text="running, then passed or failed (as `?status=`)."
    )

    class Meta:
        model = TestRun
        fields = [
            "id",
            "destination_id",
            "destination_type",
            "actor",
            "trigger",
            "status",
            "started_at",
            "finished_at",
            "success",
            "duration_ms",
            "steps",
            "error_code",
        ]
        read_only_fields = fields


class RequirementSerializer(serializers.Serializer):
    privilege = serializers.CharField(help_text="What the first sync needs (a scope, a grant, a permission).")
    source = serializers.URLField(help_text="The vendor page saying the sync needs it.")
    proof = serializers.CharField(
        required=False, help_text="How the step proves it, changing nothing in the account (absent: unproven)."
    )
    unproven = serializers.CharField(
        required=False, help_text="Why no side-effect-free proof exists; the step reports it as unproven."
    )
    grant = serializers.CharField(required=False, help_text="Where the customer grants it.")


class StepSpecSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    timeout = serializers.FloatField()
    required = serializers.BooleanField()
    writes = serializers.BooleanField()
    proves = RequirementSerializer(many=True, help_text="The privileges of the first sync this step proves.")


class DestinationTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    label = serializers.CharField()
    auth_method = serializers.CharField()
    config_schema = serializers.DictField()
    secret_fields = serializers.ListField(child=serializers.CharField())
    default_base_url = serializers.CharField(
        allow_blank=True,
        help_text="The fixed vendor host CONNECTOR_BASE_URLS can redirect; empty when hosts come from the config.",
    )
    steps = StepSpecSerializer(many=True)


class FieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField()
    required = serializers.BooleanField()
    identifier = serializers.BooleanField(help_text="Usable as the sync key.")
    createable = serializers.BooleanField()
    updateable = serializers.BooleanField()
    must_hash = serializers.BooleanField(help_text="Must be normalised and SHA-256 hashed before sending.")
    nullable = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False)


class FieldsSerializer(serializers.Serializer):
    destination_id = serializers.UUIDField()
    destination_type = serializers.CharField()
    object = serializers.CharField()
    source = serializers.ChoiceField(choices=["live", "static"])
    fetched_at = serializers.DateTimeField()
    fields = FieldSerializer(many=True)
    options = serializers.DictField(required=False)


class DeletedSerializer(serializers.Serializer):
    status = serializers.CharField(default="deleted")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class BlockingSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["reverse_etl_pipeline", "sync", "destination"])
    id = serializers.UUIDField()
    name = serializers.CharField()


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    blocking = BlockingSerializer(many=True)


class VendorErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    error = serializers.DictField()


class AuditEventSerializer(serializers.ModelSerializer):
    """One history entry: names of the fields changed, never their values."""

    actor = serializers.UUIDField(source="actor_id", read_only=True, allow_null=True)
    changed_fields = serializers.ListField(child=serializers.CharField(), read_only=True)
    secret_fields = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="The changed fields that are secret (named only)."
    )
    details = serializers.DictField(read_only=True, help_text="For a test: `test_run_id` and the overridden keys.")

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "actor_label",
            "via",
            "action",
            "target_type",
            "target_id",
            "target_name",
            "changed_fields",
            "secret_fields",
            "details",
        ]
        read_only_fields = fields


class OAuthAuthorizeSerializer(StrictInputSerializer):
    redirect_uri = serializers.CharField(help_text="Where the user returns; must be on OAUTH_REDIRECT_ALLOWED.")
    name = serializers.CharField(max_length=200, required=False, help_text="The new connection's name.")
    connection_id = serializers.UUIDField(required=False, help_text="Re-authorise this connection in place.")
    login_url = serializers.CharField(
        required=False,
        help_text="For a vendor whose customer picks the login server (Salesforce: https://test.salesforce.com for "
        "sandboxes, or a My Domain URL).",
    )
    scopes = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=30)


class OAuthAuthorizationSerializer(serializers.Serializer):
    authorization_url = serializers.CharField(help_text="Send the user's browser here.")
    state_expires_at = serializers.DateTimeField()
    destination_type = serializers.CharField()
    connection_id = serializers.UUIDField(allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField())
    pkce = serializers.BooleanField()
    callback_uri = serializers.CharField(help_text="The redirect URI to register with the vendor's app.")


class OAuthAppSerializer(StrictInputSerializer):
    client_id = serializers.CharField(max_length=300)
    client_secret = serializers.CharField(max_length=500, write_only=True)


class OAuthAppDescriptionSerializer(serializers.Serializer):
    """Which app Connect uses; never its secret."""

    destination_type = serializers.CharField()
    source = serializers.ChoiceField(
        ["workspace", "deployment"], help_text="The workspace's own app, or the deployment's (OAUTH_APPS)."
    )
    client_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(required=False)
    updated_at = serializers.DateTimeField(required=False, help_text="Since when this app is the workspace's.")
    updated_by = serializers.UUIDField(required=False, help_text="Who set it (null once that user is deleted).")
    updated_by_label = serializers.CharField(required=False)
