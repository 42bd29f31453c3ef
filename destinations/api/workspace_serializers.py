"""Request and response bodies of the workspace-as-code endpoints (members, tokens, monitoring)."""

from __future__ import annotations

from rest_framework import serializers

from workspaces.models import Role

from ..models import NotificationState


class MemberSerializer(serializers.Serializer):
    user_id = serializers.UUIDField(source="user.id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class MemberAddSerializer(serializers.Serializer):
    email = serializers.EmailField(help_text="The person's email; an account without a password is made if new.")
    role = serializers.ChoiceField(choices=Role.choices)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class ApiTokenSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    user_id = serializers.UUIDField(read_only=True)
    display_prefix = serializers.CharField(read_only=True, help_text="The first characters, to tell tokens apart.")
    created_at = serializers.DateTimeField(read_only=True)
    last_used_at = serializers.DateTimeField(read_only=True, allow_null=True)
    expires_at = serializers.DateTimeField(read_only=True, allow_null=True)
    revoked_at = serializers.DateTimeField(read_only=True, allow_null=True)
    active = serializers.BooleanField(source="is_active", read_only=True)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(
        required=False,
        help_text="The token itself: in this answer only, never again (absent on an idempotent replay).",
    )


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    user_id = serializers.UUIDField(required=False, help_text="A member's token; default: the caller's.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Empty: never expires.")


class MonitoringSerializer(serializers.Serializer):
    check_interval_minutes = serializers.IntegerField(
        allow_null=True,
        min_value=0,
        help_text="Re-test every destination this often; null: the deployment's default; 0: off.",
    )
    notification_url = serializers.CharField(allow_blank=True, help_text="Status changes are POSTed here, signed.")
    signing_secret_set = serializers.BooleanField(read_only=True)
    secret_rotated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class MonitoringUpdateSerializer(serializers.Serializer):
    check_interval_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    notification_url = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class MonitoringUpdatedSerializer(MonitoringSerializer):
    signing_secret = serializers.CharField(
        required=False, help_text="Only when the first notification URL made one: shown once."
    )


class SigningSecretSerializer(serializers.Serializer):
    signing_secret = serializers.CharField(help_text="The new Standard Webhooks secret: shown in this answer only.")
    secret_rotated_at = serializers.DateTimeField()


class NotificationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    webhook_id = serializers.CharField()
    event_type = serializers.CharField()
    destination_id = serializers.UUIDField(allow_null=True)
    url = serializers.CharField()
    state = serializers.ChoiceField(choices=NotificationState.choices)
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    payload = serializers.DictField()


class HealthCheckSerializer(serializers.Serializer):
    check_interval_minutes = serializers.IntegerField(
        allow_null=True, min_value=0, help_text="null: the workspace's interval; 0: never re-tested."
    )


class WorkspaceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class WorkspaceCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    token = serializers.CharField(
        required=False, help_text="The caller's token for the new workspace: in this answer only (not on a replay)."
    )
