"""The words of the buyer's page (`GET /r/<token>`), marked for the same catalogs as the notices.

The templates (web/templates/buyer_*.html) show these through `t()`, never literal English,
so every catalog locale reads the whole page in its own language. Placeholders are filled
with values already formatted for the locale (web/buyer.py), as in the notices.
"""

from __future__ import annotations

from adapters.notifiers.notice_texts import N_

TITLE_RETURN = N_("Your return %(return_id)s for order %(order_id)s")
TITLE_ORDER = N_("Your order %(order_id)s")
SKIP = N_("Skip to content")
LANGUAGE = N_("Language")

PROGRESS = N_("Progress")
STEPS: dict[str, str] = {
    "delivered": N_("Order delivered"),
    "requested": N_("Return requested"),
    "approved": N_("Return approved"),
    "shipped": N_("Parcel sent back"),
    "received": N_("Parcel received by the seller"),
    "refunded": N_("Refund paid"),
}
# Where a case ends other than by a refund (core.lifecycle.CaseState), as the buyer reads it.
OUTCOMES: dict[str, str] = {
    "rejected": N_("The return was declined"),
    "cancelled": N_("The return was cancelled"),
    "expired": N_("The time to return this order has ended"),
    "closed": N_("This return is closed"),
    "platform_intervention": N_("The marketplace is reviewing a dispute about this order"),
    "exchanged": N_("A replacement or the repaired item was sent to you"),
    "repaired": N_("A replacement or the repaired item was sent to you"),
    "compensated": N_("The seller settled this return with you"),
}
CURRENT = N_("current step")
DONE = N_("done")

NEXT = N_("What happens next")
NEXT_STEPS: dict[str, str] = {
    "merchant_response_due_by": N_("The seller answers your request by %(day)s at the latest."),
    "return_ship_by": N_("Please send the parcel back by %(day)s (last day)."),
    "inspection_due_by": N_("The seller inspects the items by %(day)s at the latest."),
    "refund_due_by": N_("Your refund will be paid by %(day)s at the latest."),
    "window_ends_at": N_("You can return items from this order until %(day)s (last day)."),
}
NOTHING_NEXT = N_("Nothing more is needed from you.")

SENDING = N_("Sending the parcel back")
LABEL = N_("Download your return label (PDF)")
DROP_OFF = N_("Send the parcel to this address:")
PICKUP = N_("%(carrier)s will collect the parcel from your address.")

TRACKING = N_("Tracking of your return parcel")
TRACKING_NUMBER = N_("Tracking number: %(tracking_number)s")
NO_SCANS = N_("The carrier has not reported the parcel yet.")

REFUND = N_("Refund")
REFUND_AMOUNT = N_("Amount: %(amount)s")
# %(rate)s is the equation "1 EUR = 4.2365 PLN", kept left to right as one piece in Arabic.
REFUND_DISPLAY = N_("About %(display)s (%(rate)s, rate of %(rate_date)s)")
REFUNDED_TO = N_("Refunded to: %(route)s")

MESSAGES = N_("Messages we sent you")
ITEMS = N_("Items")

WITHDRAWAL = N_("Withdrawal from the contract")
WITHDRAW_HERE = N_("Withdraw from contract here")
WITHDRAWAL_OPEN = N_("You can withdraw from this contract without giving any reason until %(day)s (last day).")
NAME = N_("Your name")
LINES = N_("Items you withdraw from")
EMAIL = N_("E-mail address for your confirmation")
CONTINUE = N_("Continue")
CHECK = N_("Please check your withdrawal")
STATEMENT = N_("I, %(name)s, withdraw from my contract for order %(order_id)s for these items:")
CONFIRM = N_("Confirm withdrawal")
BACK = N_("Change")
RECEIVED = N_("Your withdrawal has been received")
RECEIVED_AT = N_("We received your withdrawal on %(received_at)s.")
CONFIRMATION_SENT = N_("A confirmation with this content is being sent to %(email)s.")
ERRORS: dict[str, str] = {
    "name": N_("Please enter your name."),
    "lines": N_("Please choose at least one item."),
    "email": N_("Please enter a valid e-mail address."),
    "form": N_("This form has expired. Please start again."),
}
# Why the function is not offered, and what the buyer can do instead (art. 11a applies to an open right only).
NOT_OFFERED: dict[str, str] = {
    "window_closed": N_("The period for withdrawing from this contract ended on %(day)s."),
    "no_right": N_("The law that applies to this order gives no statutory right to withdraw from it."),
    "excluded": N_("The items of this order are excluded from the right of withdrawal."),
    "not_delivered": N_("The order has not been delivered yet: you can cancel it with the seller."),
    "requested": N_("A return has already been requested for this order; its progress is shown above."),
}
INSTEAD = N_(
    "You can still ask the seller for a return under the marketplace's or the seller's own return policy, "
    "or, if an item is faulty, under the legal guarantee."
)

NOT_FOUND = N_("Page not found")
NOT_FOUND_TEXT = N_(
    "This link is not valid or has expired. Please use the link in the latest message you received, "
    "or contact the seller."
)
