"""The app's tables, one module per aggregate; `destinations.models.X` names every model (migrations rely on it)."""

from .destinations import (
    PROTECT_WHILE_ACTIVE,
    Connection,
    Destination,
    DestinationConsumer,
    DestinationStatus,
    ReverseETLPipeline,
    Sync,
    config_validation_mark,
    stored_config_digest,
)
from .history import AuditAction, AuditEvent, AuditTarget, AuditVia, IdempotencyKey
from .jobs import TestJob, TestJobEvent, TestJobItem, TestJobItemState, TestJobState
from .monitoring import Notification, NotificationState, WorkspaceMonitoring
from .oauth import OAuthApp, OAuthState
from .runs import TestRun, TestRunEvent, TestRunStatus, TestRunTrigger
from .schedule import SchedulerLease

__all__ = [
    "PROTECT_WHILE_ACTIVE",
    "AuditAction",
    "AuditEvent",
    "AuditTarget",
    "AuditVia",
    "Connection",
    "Destination",
    "DestinationConsumer",
    "DestinationStatus",
    "IdempotencyKey",
    "Notification",
    "NotificationState",
    "OAuthApp",
    "OAuthState",
    "ReverseETLPipeline",
    "SchedulerLease",
    "Sync",
    "TestJob",
    "TestJobEvent",
    "TestJobItem",
    "TestJobItemState",
    "TestJobState",
    "TestRun",
    "TestRunEvent",
    "TestRunStatus",
    "TestRunTrigger",
    "WorkspaceMonitoring",
    "config_validation_mark",
    "stored_config_digest",
]
