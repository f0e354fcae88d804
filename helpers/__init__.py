"""Shared plumbing for the course notebooks: settings, the client, rendering, and per-lesson cleanup.

Every helper is short on purpose: open the module to see exactly what it does with the Letta SDK.
"""

from helpers.client import CourseSetupError, client, wait_for_server
from helpers.context_window import context_snapshot, show_context
from helpers.diagrams import show_rules
from helpers.lesson import Lesson
from helpers.model_checks import ModelChoseOtherwise, expect_model
from helpers.progress import waiting
from helpers.render import format_message, messages_of, show, show_stream
from helpers.runs import wait_for_runs
from helpers.settings import Settings, settings, use
from helpers.user_directory import UserDirectory
from helpers.widgets import ApprovalPanel, ChatPanel, ContextView, MemoryInspector, side_by_side

__all__ = [
    "ApprovalPanel",
    "ChatPanel",
    "ContextView",
    "CourseSetupError",
    "Lesson",
    "MemoryInspector",
    "ModelChoseOtherwise",
    "Settings",
    "UserDirectory",
    "client",
    "context_snapshot",
    "expect_model",
    "format_message",
    "messages_of",
    "settings",
    "show",
    "show_context",
    "show_rules",
    "show_stream",
    "side_by_side",
    "use",
    "wait_for_runs",
    "waiting",
    "wait_for_server",
]
