"""The words of every buyer notice: gettext message ids marked with `N_` / `N_plural`, one table per idea.

`NOTICE_TEXTS` holds, for each kind in core.notices.NOTICE_KINDS, its subject and
paragraphs (a paragraph shown only when its placeholders have values and its
`when` holds); `CODE_TEXTS` the words for codes shown as values. Whole sentences
with named placeholders, never fragments glued together (policy_fx_l10n.md §6.5).
`pybabel extract -k N_ -k N_plural:1,2` (babel.cfg, Makefile) collects them into
locales/messages.pot; adapters/notifiers/render.py translates and fills them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def N_(message: str) -> str:
    """Marks a message for `pybabel extract -k N_`; translated when the notice is rendered."""
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """Marks a plural message for `pybabel extract -k N_plural:1,2`; chosen by ngettext when rendered."""
    return singular, plural


ABSENT = object()


@dataclass(frozen=True)
class Paragraph:
    """One sentence or line of a notice: shown when its placeholders have values and `when` holds."""

    message: str | tuple[str, str]
    when: tuple[tuple[str, Any], ...] = ()
    count: str | None = None


@dataclass(frozen=True)
class NoticeText:
    subject: str
    paragraphs: tuple[Paragraph, ...]


_ITEMS_VALUE = Paragraph(N_("Value of the items to return: %(amount)s"))
_SHIP_BY = Paragraph(N_("Please ship the parcel by %(ship_by)s."))
_APPEAL = Paragraph(
    N_(
        "If you disagree, you can appeal until %(appeal_by)s: reply to this message with photos "
        "or other evidence, or ask the marketplace to step in."
    )
)
_APPEAL_UNDATED = Paragraph(
    N_("If you disagree, reply to this message with photos or other evidence, or ask the marketplace to step in."),
    when=(("appeal_by", ABSENT),),
)
_MONEY_ARRIVAL = Paragraph(N_("The money should reach you by %(expected_by)s."))
_DELIVERY = Paragraph(N_("Expected delivery: %(expected_by)s"))
_NOTE = Paragraph(N_("Seller's note: %(note)s"))
# The line every notice ends with: the buyer's page (contract "Buyer pages"), when a link is known.
PAGE_LINK = N_("Follow your return at any time: %(page_url)s")

# The words of every notice kind in core.notices.NOTICE_KINDS: one table.
NOTICE_TEXTS: dict[str, NoticeText] = {
    "request_received": NoticeText(
        N_("We received your return request for order %(order_id)s"),
        (
            Paragraph(
                N_(
                    "We received your return request %(return_id)s for order %(order_id)s on "
                    "%(requested_at)s. We will review it and let you know the result."
                )
            ),
            _ITEMS_VALUE,
        ),
    ),
    "return_approved": NoticeText(
        N_("Your return for order %(order_id)s is approved"),
        (
            Paragraph(N_("Your return request %(return_id)s for order %(order_id)s has been approved.")),
            Paragraph(
                N_("Print your prepaid return label and attach it to the parcel: %(label_url)s"),
                when=(("method", "label"),),
            ),
            Paragraph(
                N_("We will send you the return label from %(carrier)s as soon as it is ready."),
                when=(("method", "label"), ("label_url", ABSENT)),
            ),
            Paragraph(
                N_("%(carrier)s will collect the parcel from your address on %(pickup_at)s."),
                when=(("method", "pickup"),),
            ),
            Paragraph(
                N_("%(carrier)s will collect the parcel from your address. We will confirm the date."),
                when=(("method", "pickup"), ("pickup_at", ABSENT)),
            ),
            Paragraph(N_("Send the parcel to this address: %(return_address)s"), when=(("method", "drop_off"),)),
            _SHIP_BY,
            _ITEMS_VALUE,
        ),
    ),
    "return_rejected": NoticeText(
        N_("Your return request for order %(order_id)s was declined"),
        (
            Paragraph(N_("We are sorry: your return request %(return_id)s for order %(order_id)s was declined.")),
            Paragraph(N_("Reason: %(reason)s")),
            _NOTE,
            _APPEAL,
            _APPEAL_UNDATED,
        ),
    ),
    "ship_by_reminder": NoticeText(
        N_("Reminder: please ship your return by %(ship_by)s"),
        (
            Paragraph(
                N_plural(
                    "You have %(num)d day left to ship your return %(return_id)s.",
                    "You have %(num)d days left to ship your return %(return_id)s.",
                ),
                count="days_left",
            ),
            _SHIP_BY,
        ),
    ),
    "return_shipped": NoticeText(
        N_("Your return %(return_id)s is on its way to us"),
        (
            Paragraph(
                N_(
                    "Your return %(return_id)s for order %(order_id)s is on its way to us. We will let you "
                    "know when it arrives."
                )
            ),
            Paragraph(N_("Tracking number: %(tracking_number)s")),
        ),
    ),
    "return_received": NoticeText(
        N_("We received your returned parcel"),
        (
            Paragraph(
                N_(
                    "Your returned parcel for order %(order_id)s (return %(return_id)s) arrived on "
                    "%(received_at)s. We will now inspect the items."
                )
            ),
        ),
    ),
    "inspection_result": NoticeText(
        N_("Inspection result for your return %(return_id)s"),
        (
            Paragraph(
                N_(
                    "Your returned items passed inspection on %(inspected_at)s. Your refund or exchange "
                    "is now being processed."
                ),
                when=(("passed", True),),
            ),
            Paragraph(
                N_("Your returned items did not pass inspection on %(inspected_at)s."),
                when=(("passed", False),),
            ),
            _NOTE,
            Paragraph(_APPEAL.message, when=(("passed", False),)),
            Paragraph(_APPEAL_UNDATED.message, when=(("passed", False), ("appeal_by", ABSENT))),
        ),
    ),
    "refund_paid": NoticeText(
        N_("Your refund of %(amount)s has been issued"),
        (
            Paragraph(N_("We issued a refund of %(amount)s for your return %(return_id)s on %(issued_at)s.")),
            Paragraph(N_("Refunded to: %(route)s")),
            _MONEY_ARRIVAL,
        ),
    ),
    "refund_failed": NoticeText(
        N_("Your refund of %(amount)s could not be paid yet"),
        (
            Paragraph(
                N_(
                    "We could not pay your refund of %(amount)s for return %(return_id)s (order %(order_id)s). "
                    "We are trying again and will tell you as soon as it has been paid."
                )
            ),
        ),
    ),
    "exchange_shipped": NoticeText(
        N_("Your replacement for order %(order_id)s is on its way"),
        (
            Paragraph(N_("Your replacement for order %(order_id)s was shipped on %(shipped_at)s with %(carrier)s.")),
            Paragraph(N_("Tracking number: %(tracking_number)s")),
            _DELIVERY,
        ),
    ),
    "interception_result": NoticeText(
        N_("Update on stopping the delivery of order %(order_id)s"),
        (
            Paragraph(
                N_(
                    "We stopped the delivery of order %(order_id)s. The parcel is coming back to us; "
                    "you do not need to do anything."
                ),
                when=(("outcome", "stopped"),),
            ),
            Paragraph(
                N_(
                    "We could not stop the delivery of order %(order_id)s in time. When the parcel "
                    "arrives, you can refuse it or send it back; your return stays open."
                ),
                when=(("outcome", "not_stopped"),),
            ),
        ),
    ),
    "dispute_update": NoticeText(
        N_("Update on the dispute about order %(order_id)s"),
        (
            Paragraph(
                N_(
                    "On %(dispute_at)s a dispute about order %(order_id)s was opened, and the "
                    "marketplace is now reviewing it."
                ),
                when=(("stage", "opened"),),
            ),
            Paragraph(
                N_("On %(dispute_at)s the marketplace decided the dispute about order %(order_id)s in your favour."),
                when=(("stage", "resolved_for_buyer"),),
            ),
            Paragraph(
                N_(
                    "On %(dispute_at)s the marketplace decided the dispute about order %(order_id)s "
                    "in the seller's favour."
                ),
                when=(("stage", "resolved_for_seller"),),
            ),
            Paragraph(N_("Please send any further evidence by %(respond_by)s.")),
        ),
    ),
    "withdrawal_confirmation": NoticeText(
        N_("Confirmation of your withdrawal from order %(order_id)s"),
        (
            Paragraph(
                N_(
                    "We confirm that on %(withdrawn_at)s we received your withdrawal from the contract "
                    "for order %(order_id)s (return %(return_id)s)."
                )
            ),
            Paragraph(N_("Your statement: %(statement)s")),
            Paragraph(
                N_(
                    "We will refund %(amount)s, including the standard delivery costs, by "
                    "%(refund_due_by)s at the latest, using the payment method you used."
                )
            ),
            Paragraph(
                N_(
                    "We will refund all payments received from you, including the standard delivery "
                    "costs, by %(refund_due_by)s at the latest, using the payment method you used."
                ),
                when=(("amount", ABSENT),),
            ),
            Paragraph(N_("Please keep this message: it is your confirmation on a durable medium.")),
        ),
    ),
    "return_expired": NoticeText(
        N_("Your return %(return_id)s has been closed"),
        (
            Paragraph(
                N_(
                    "The time to return items from order %(order_id)s has ended, so your return "
                    "%(return_id)s has been closed."
                )
            ),
        ),
    ),
    "cancellation_refused": NoticeText(
        N_("Order %(order_id)s could not be cancelled"),
        (
            Paragraph(
                N_(
                    "Your order %(order_id)s had already been shipped, so it could not be cancelled. "
                    "Once it arrives, you can request a return."
                )
            ),
        ),
    ),
}

# For a notice kind recorded by a newer version than this renderer knows.
GENERAL_UPDATE = NoticeText(
    N_("Update on your return %(return_id)s"),
    (Paragraph(N_("There is news about your return %(return_id)s. Please check its status with the seller.")),),
)

# The words for each code of core.notices.CODES that appears as a value in a sentence.
CODE_TEXTS: dict[str, dict[str, str]] = {
    "reason": {
        "outside_return_window": N_("The return period has ended"),
        "item_used": N_("The item has been used"),
        "missing_evidence": N_("Photos or other evidence are missing"),
        "excluded_item": N_("This item cannot be returned"),
        "other": N_("Another reason, explained by the seller"),
    },
    "route": {
        "original_payment": N_("Your original payment method"),
        "marketplace_balance": N_("Your marketplace balance"),
        "bank_transfer": N_("Your bank account"),
        "store_credit": N_("Store credit"),
    },
}
