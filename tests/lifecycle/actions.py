"""What staff and the timers do, named once for the state machine: the contract entry points of issue #20
when the code has them, today's equivalents otherwise, so one machine runs before and after the fixes.

Contract names (issue #20): ``orders.workflow.order_staff_cancel``, ``orders.workflow.order_payment_record``
and ``payments.refunds.refunds_retry``. Until they exist, staff cancel and "Record payment" are the admin's
own buttons (``order_transition`` to cancelled or paid) and there is no refund retry.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser

from orders import workflow
from orders.models import Order, OrderStatus
from payments import refunds


def staff_cancel(*, order: Order, actor: AbstractBaseUser, note: str = "") -> Order:
    """The admin's "Cancel order"; raises orders.services.OrderError when refused."""
    cancel = getattr(workflow, "order_staff_cancel", None)
    if cancel is not None:
        return cancel(order=order, actor=actor, note=note)
    return workflow.order_transition(order=order, to_status=OrderStatus.CANCELLED, actor=actor, note=note)


def payment_record(*, order: Order, actor: AbstractBaseUser, note: str = "") -> Order:
    """The admin's "Record payment" (money received offline); raises orders.services.OrderError when refused."""
    record = getattr(workflow, "order_payment_record", None)
    if record is not None:
        return record(order=order, actor=actor, note=note)
    return workflow.order_transition(order=order, to_status=OrderStatus.PAID, actor=actor, note=note)


def refunds_retry(*, now=None) -> int | None:
    """The timer's retry of pending and failed refunds; None where the code has no such timer yet."""
    retry = getattr(refunds, "refunds_retry", None)
    return None if retry is None else retry(now=now)
