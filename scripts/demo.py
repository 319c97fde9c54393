"""Two-minute walkthrough: sign the contract's example events, post them to a running service, show the case.

Usage: `make run` in one terminal (with RB_GENERIC_WEBHOOK_SECRET and RB_OPS_TOKEN set), then `make demo`
in another with the same two exported: reading a case needs `Authorization: Bearer $RB_OPS_TOKEN`.
The examples live in examples/ in this repository (or pass paths as arguments).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks.webhooks import Webhook

BASE = os.environ.get(
    "RB_DEMO_URL", f"http://{os.environ.get('RB_HOST', '127.0.0.1')}:{os.environ.get('RB_PORT', '8080')}"
)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def call(method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(BASE + path, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def post_signed(event: dict, secret: str, delivery_id: str | None = None) -> tuple[int, dict]:
    body = json.dumps(event).encode()
    delivery_id = delivery_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(delivery_id, now, body.decode())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return call("POST", "/webhooks/generic", body, headers)


def main() -> None:
    secret = os.environ.get("RB_GENERIC_WEBHOOK_SECRET")
    if not secret:
        sys.exit("set RB_GENERIC_WEBHOOK_SECRET to the same whsec_… value the service runs with")
    paths = [Path(p) for p in sys.argv[1:]] or [
        EXAMPLES / "return-requested-de.json",
        EXAMPLES / "return-approved.json",
    ]
    case_id = None
    for path in paths:
        event = json.loads(path.read_text())
        status, answer = post_signed(event, secret, delivery_id=f"demo-{path.stem}")
        print(f"POST /webhooks/generic {path.name}: {status} {json.dumps(answer)}")
        status, again = post_signed(event, secret, delivery_id=f"demo-{path.stem}")
        print(f"  the same delivery again: {status} {json.dumps(again)}")
        case_id = answer.get("case_id") or case_id
        time.sleep(0.5)
    order_case = post_delivered_order(secret)
    token = os.environ.get("RB_OPS_TOKEN")
    if case_id and not token:
        print(f"\ncase {case_id}: export RB_OPS_TOKEN (as the service has it) to read it; /returns needs it")
    elif case_id:
        time.sleep(1)
        auth = {"Authorization": f"Bearer {token}"}
        status, case = call("GET", f"/returns/{case_id}", headers=auth)
        print(f"\nGET /returns/{case_id}: {status}")
        print(json.dumps({k: case.get(k) for k in ("state", "timeline", "shipments")}, indent=2, ensure_ascii=False))
        status, notices = call("GET", f"/returns/{case_id}/notices?locale=zh-CN", headers=auth)
        print(f"\nGET /returns/{case_id}/notices?locale=zh-CN: {status}")
        print(json.dumps(notices, indent=2, ensure_ascii=False))
        print(f"\nThe buyer's page (German): {case.get('buyer_url')}")
    if order_case and token:
        status, order = call("GET", f"/returns/{order_case}", headers={"Authorization": f"Bearer {token}"})
        print(f"The buyer's page of a delivered order, with the withdrawal function (French): {order.get('buyer_url')}")


def post_delivered_order(secret: str) -> str | None:
    """examples/order-delivered-fr.json, dated now: its buyer's withdrawal window is open."""
    event = json.loads((EXAMPLES / "order-delivered-fr.json").read_text())
    now = datetime.now(UTC).isoformat()
    event["occurred_at"] = event["order"]["delivered_at"] = now
    status, answer = post_signed(event, secret, delivery_id="demo-order-delivered-fr")
    print(f"POST /webhooks/generic order-delivered-fr.json (dated now): {status} {json.dumps(answer)}")
    return answer.get("case_id")


if __name__ == "__main__":
    main()
