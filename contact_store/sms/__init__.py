"""SMS: the outbox worker, providers (log, notify, twilio), delivery receipts and inbound texts.

Queue texts with `queue_sms` (re-exported from `contact_store.outbox`) inside the transaction of the
thing that caused them; the worker (`contact_store.sms.worker`) sends them after commit.
"""

from contact_store.outbox import MAX_SMS_LENGTH, SMS_TEMPLATES, queue_sms, render_template

__all__ = ["MAX_SMS_LENGTH", "SMS_TEMPLATES", "queue_sms", "render_template"]
