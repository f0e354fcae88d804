"""Notebook widgets (ipywidgets) with a plain-text fallback.

ApprovalPanel shows a tool call that waits for a human decision, with Approve / Deny buttons and a reason box.
In JupyterLab you click; the decision is kept on the panel (`panel.decision`) for the next cell to send. Where
nobody can click (nbmake, papermill, a terminal), code decides with `panel.approve()` / `panel.deny(reason)`.
"""

from __future__ import annotations

import html
import json

import ipywidgets as widgets


class ApprovalPanel:
    def __init__(self, request) -> None:
        """request: an `approval_request_message` from a response."""
        self.call = request.tool_call
        self.decision: dict | None = None
        try:
            arguments = json.dumps(json.loads(self.call.arguments), indent=2, ensure_ascii=False)
        except (TypeError, ValueError):
            arguments = str(self.call.arguments)
        self.summary = f"{self.call.name}({arguments})"
        self.reason = widgets.Text(placeholder="reason (sent to the agent if you deny)", layout=widgets.Layout(width="60%"))
        self.approve_button = widgets.Button(description="Approve", button_style="success", icon="check")
        self.deny_button = widgets.Button(description="Deny", button_style="danger", icon="times")
        self.status = widgets.HTML("<i>waiting for your decision</i>")
        self.approve_button.on_click(lambda _: self.approve())
        self.deny_button.on_click(lambda _: self.deny(self.reason.value or "Denied by the user."))
        header = widgets.HTML(f"<b>The agent wants to run</b><pre>{html.escape(self.summary)}</pre>")
        self.widget = widgets.VBox([header, widgets.HBox([self.approve_button, self.deny_button, self.reason]), self.status])

    def approve(self) -> dict:
        self.decision = {"type": "approval", "tool_call_id": self.call.tool_call_id, "approve": True}
        self._settle("approved")
        return self.decision

    def deny(self, reason: str) -> dict:
        self.decision = {"type": "approval", "tool_call_id": self.call.tool_call_id, "approve": False, "reason": reason}
        self._settle(f"denied: {reason}")
        return self.decision

    def _settle(self, text: str) -> None:
        self.status.value = f"<b>{html.escape(text)}</b>"
        self.approve_button.disabled = self.deny_button.disabled = True

    def message(self) -> dict:
        """The message that sends the decision back to the agent."""
        if self.decision is None:
            raise RuntimeError("no decision yet: click Approve or Deny, or call approve() / deny(reason)")
        return {"type": "approval", "approvals": [self.decision]}

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:  # what a terminal or a text-only output shows
        state = "waiting" if self.decision is None else ("approved" if self.decision["approve"] else "denied")
        return f"ApprovalPanel({self.summary}, {state})"
