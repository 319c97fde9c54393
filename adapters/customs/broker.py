"""A customs broker reached over HTTPS JSON: declarations of returned goods and duty/VAT recovery claims.

No authority in the research offers a public API for returned-goods relief or
invalidation claims (carriers_customs.md §3, §5: China's Single Window, EU
national systems and CBP ACE are reached through licensed brokers), so the
filing goes to the merchant's broker: `RB_CUSTOMS_BROKER_BASE_URL`,
`RB_CUSTOMS_BROKER_API_KEY` (sent as `Authorization: Bearer`). Each filing
carries an `Idempotency-Key` so a redelivered command never files twice.
Answer: `{"reference", "status"}`; refusals `{"error": {"message"}}`.
"""

from __future__ import annotations

from typing import Any

from adapters.customs.base import CUSTOMS, CustomsRejected, Filing
from adapters.http import HttpResult, OutboundRequest
from config.settings import AdapterSettings
from core.customs import CustomsPlan, DutyClaim

DEFAULT_URL = "https://broker.invalid/api"


class CustomsBroker:
    name = "customs_broker"

    def credentials(self, settings: AdapterSettings) -> dict[str, str] | None:
        return settings.require("BASE_URL", "API_KEY")

    def _request(self, path: str, body: dict[str, Any], key: str, settings: AdapterSettings) -> OutboundRequest:
        return OutboundRequest(
            method="POST",
            url=f"{(settings.get('BASE_URL') or DEFAULT_URL).rstrip('/')}/{path}",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": key,
                "Authorization": f"Bearer {settings.get('API_KEY') or ''}",
            },
            json_body=body,
        )

    def build_declaration(self, case_id: str, plan: CustomsPlan, settings: AdapterSettings) -> OutboundRequest:
        body = {"case_id": case_id, **plan.to_json()}
        return self._request("returned-goods-declarations", body, f"{case_id}:declaration", settings)

    def build_claim(self, case_id: str, claim: DutyClaim, settings: AdapterSettings) -> OutboundRequest:
        body = {"case_id": case_id, **claim.to_json()}
        return self._request("duty-recovery-claims", body, f"{case_id}:claim:{claim.authority}", settings)

    def parse_filing(self, result: HttpResult) -> Filing:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok:
            message = (body.get("error") or {}).get("message") if isinstance(body.get("error"), dict) else None
            raise CustomsRejected(f"customs broker answered {result.status}: {message or str(result.body)[:300]}")
        if not body.get("reference"):
            raise CustomsRejected("customs broker answered without a reference")
        return Filing(reference=str(body["reference"]), status=str(body.get("status") or "filed"), raw=body)


CUSTOMS.register("customs_broker", CustomsBroker())
