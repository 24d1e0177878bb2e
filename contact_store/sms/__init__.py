"""SMS: the gate, the outbox worker, providers (log, notify, twilio), delivery receipts and inbound texts.

Queue texts with `contact_store.outbox.queue_sms` inside the transaction of the thing that caused
them; every row passes the gate (`contact_store.sms.gate`: consent, country, daily cap) when it is
queued and again just before the worker (`contact_store.sms.worker`) sends it after commit.
"""
