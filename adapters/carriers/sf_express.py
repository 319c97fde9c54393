"""SF Express through its international open API (sf.global), with interception through Fengqiao.

International API (IUOP), as the public SDK smart-dato/sf-express-sdk implements
it (no official SF document was found; carriers_customs.md §2.4(a)):
- token: `GET /openapi/api/token?appKey=&appSecret=` -> `apiResultData.accessToken`;
- every call: `POST /openapi/api/dispatch`, headers `appKey`, `token`,
  `timestamp` (ms), `nonce`, `signature`, `msgType`, `lang`; the body is the
  JSON message AES-256-CBC encrypted WeChat-BizMsgCrypt style (key = Base64 of
  the 43-character `encodingAesKey` + "=", IV = first 16 key bytes, plaintext =
  16 random chars + 4-byte big-endian length + message + appKey, PKCS#7 padded
  to 32 bytes), and `signature` = SHA-256 hex of the sorted concatenation of
  token, timestamp, nonce and the encrypted body; answers are
  `{apiResultCode (0 = success), apiErrorMsg, apiResultData}` with
  `apiResultData` encrypted the same way;
- msgTypes `IUOP_CREATE_ORDER` (fields customerCode, customerOrderNo,
  interProductCode, parcelQuantity, declaredValue, declaredCurrency,
  senderInfo, receiverInfo, parcelInfoList[] with hsCode and originCountry,
  paymentInfo, customsInfo, pickupType "1" door-to-door / "0" drop-off) and
  `GTS_QUERY_TRACK` (`sfWaybillNoList`, `phoneNo`).
Interception (截单转寄, seed 002 拦截快递): Fengqiao `EXP_RECE_WANTED_INTERCEPT`
with serviceCode "2" (退回, return to sender), form POST `partnerID, requestID,
serviceCode, timestamp, msgDigest, msgData`, `msgDigest` =
Base64(MD5(urlencode(msgData + timestamp + checkword))) (SF's CSIM sample SDK,
§2.4(b)); `apiResultCode` "A1000" is success.
SF's international API has no separate pickup call: the order books the
courier (`pickupType`), so `build_pickup` re-issues the order for collection.
Route pushes [A: not verified in SF documents]: SF encrypts them as it encrypts
answers; they are accepted when the signature header matches and the decrypted
message names our appKey.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from adapters.carriers.base import (
    CARRIERS,
    AccessToken,
    BookedPickup,
    BookedShipment,
    CarrierBase,
    CarrierRejected,
    InboundRequest,
    InterceptOrder,
    InterceptOutcome,
    Intercepts,
    PayloadError,
    PickupWindow,
    SignatureError,
    e164,
    fit,
    json_number,
)
from adapters.http import HttpResult, OutboundRequest
from adapters.registry import Setting, SignatureHeader
from config.settings import AdapterSettings
from core.events import Address
from core.invoice import returns_invoice
from core.shipments import ReturnShipmentOrder
from core.tracking import TrackingStatus, TrackingUpdate, canonical_status

SANDBOX_URL = "https://api-ifsp-sit.sf.global"
FENGQIAO_SANDBOX_URL = "https://sfapi-sbox.sf-express.com/std/service"
INTERNATIONAL_PRODUCT = "INT0014"
DEFAULT_PUSH_MAX_AGE_SECONDS = 300  # a signed push older than this is a replay (RB_SF_EXPRESS_PUSH_MAX_AGE_SECONDS)
DEFAULT_TOKEN_SECONDS = 2 * 60 * 60  # [A] the SDKs refresh before two hours; used when SF states no expiry
BLOCK = 32

# SF route operation codes (opCode) -> canonical status [A: codes as integrators use them; no SF table in corpus].
STATUS_CODES: dict[str, str] = {
    "50": TrackingStatus.SHIPPED_BACK,
    "51": TrackingStatus.SHIPPED_BACK,
    "30": TrackingStatus.IN_TRANSIT,
    "31": TrackingStatus.IN_TRANSIT,
    "36": TrackingStatus.IN_TRANSIT,
    "44": TrackingStatus.IN_TRANSIT,
    "204": TrackingStatus.IN_TRANSIT,
    "80": TrackingStatus.DELIVERED_TO_WAREHOUSE,
    "8000": TrackingStatus.DELIVERED_TO_WAREHOUSE,
    "33": TrackingStatus.EXCEPTION,
    "70": TrackingStatus.EXCEPTION,
    "648": TrackingStatus.EXCEPTION,
    "99": TrackingStatus.RETURNED_TO_SENDER,
}


def _key(encoding_aes_key: str) -> bytes:
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise CarrierRejected("RB_SF_EXPRESS_AES_KEY must be SF's 43-character encodingAesKey")
    return key


def encrypt(message: str, encoding_aes_key: str, app_key: str, random16: bytes | None = None) -> str:
    """BizMsgCrypt encryption as SF's international API expects it (see module docstring)."""
    key = _key(encoding_aes_key)
    text = message.encode()
    plain = (random16 or os.urandom(8).hex().encode()) + struct.pack(">I", len(text)) + text + app_key.encode()
    pad = BLOCK - len(plain) % BLOCK
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt(cipher_text: str, encoding_aes_key: str, app_key: str) -> str:
    """The message inside an SF answer or push; refuses one not addressed to `app_key`."""
    key = _key(encoding_aes_key)
    try:
        raw = base64.b64decode(cipher_text)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
    except ValueError as exc:
        raise SignatureError("SF message is not valid Base64 AES-CBC") from exc
    pad = plain[-1] if plain else 0
    plain = plain[:-pad] if 1 <= pad <= BLOCK else plain
    length = struct.unpack(">I", plain[16:20])[0] if len(plain) >= 20 else -1
    message, addressee = plain[20 : 20 + length], plain[20 + length :]
    if length < 0 or addressee != app_key.encode():
        raise SignatureError("SF message is not addressed to this appKey")
    return message.decode()


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha256("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def fengqiao_digest(msg_data: str, timestamp: str, checkword: str) -> str:
    """msgDigest = Base64(MD5(urlencode(msgData + timestamp + checkword))) (SF CSIM sample SDK)."""
    quoted = urllib.parse.quote_plus(msg_data + timestamp + checkword)
    return base64.b64encode(hashlib.md5(quoted.encode()).digest()).decode()


def _party(address: Address, role: str) -> dict[str, Any]:
    """A ShippingPartyPayload as the SDK builds it: address, regionFirst/Second, contact, country, postCode and
    phoneNo are always sent (in E.164, so SF can call across borders); optional fields only when known."""
    party = {
        "contact": fit(address.name, 100) or "Returns",
        "country": address.country,
        "regionFirst": address.region or address.city or "",
        "regionSecond": address.city or "",
        "address": " ".join(line for line in (address.line1, address.line2) if line),
        "postCode": address.postal_code or "",
        "phoneNo": e164(address.phone, address.country, f"{role}.phoneNo"),
    }
    if address.email:
        party["email"] = address.email
    return party


class SfExpress(CarrierBase):
    name = "sf_express"
    display_name = "SF Express"
    capabilities: frozenset[type] = frozenset({Intercepts})
    declared_settings = (
        Setting(("BASE_URL",), "`https://api-ifsp-sit.sf.global`", "SF international API base URL"),
        Setting(
            ("APP_KEY", "APP_SECRET", "AES_KEY", "CUSTOMER_CODE", "MONTHLY_CARD"),
            "none: requests built and stored, not sent",
            "SF international credentials (43-character encodingAesKey)",
        ),
        Setting(
            ("PARTNER_ID", "CHECKWORD", "FENGQIAO_URL"),
            "none: interception is an operator task",
            "SF Fengqiao credentials for interception (EXP_RECE_WANTED_INTERCEPT)",
        ),
        Setting(("WEBHOOK_SECRET",), "none: SF pushes answer 401", "token in SF's push signature"),
        Setting(
            ("PHONE_SUFFIX",),
            "none: tracking asked by waybill number only",
            "`phoneNo` of `GTS_QUERY_TRACK`: the last digits of the sender's or receiver's phone, which SF may ask for",
        ),
        Setting(
            ("PUSH_MAX_AGE_SECONDS",),
            "`300`",
            "an SF push whose `timestamp` header is further from now than this is refused (401) as a replay",
        ),
    )
    content_types = ("application/json", "text/plain")  # the body is encrypted text (sf_express.md)
    signature_headers = (
        SignatureHeader("timestamp", "epoch milliseconds, within RB_SF_EXPRESS_PUSH_MAX_AGE_SECONDS of now"),
        SignatureHeader("nonce", "the nonce the signature covers"),
        SignatureHeader(
            "signature", "hex SHA-256 of token, timestamp, nonce and the encrypted body, sorted and joined"
        ),
    )

    def credentials(self, settings: AdapterSettings) -> dict[str, str] | None:
        return settings.require("APP_KEY", "APP_SECRET", "AES_KEY", "CUSTOMER_CODE")

    def intercept_credentials(self, settings: AdapterSettings) -> dict[str, str] | None:
        return settings.require("PARTNER_ID", "CHECKWORD")

    def _base(self, settings: AdapterSettings) -> str:
        return (settings.get("BASE_URL") or SANDBOX_URL).rstrip("/")

    def collects_with_label(self, order: ReturnShipmentOrder) -> bool:
        return order.pickup

    def needs_token(self, request: OutboundRequest) -> bool:
        """Fengqiao calls (interception) sign with the checkword instead of the international token."""
        return "msgType" in request.headers

    def token_request(self, settings: AdapterSettings) -> OutboundRequest:
        query = urllib.parse.urlencode(
            {"appKey": settings.get("APP_KEY") or "", "appSecret": settings.get("APP_SECRET") or ""}
        )
        return OutboundRequest(method="GET", url=f"{self._base(settings)}/openapi/api/token?{query}")

    def parse_token(self, result: HttpResult, now: datetime) -> AccessToken:
        body = result.body if isinstance(result.body, dict) else {}
        data = found if isinstance(found := body.get("apiResultData"), dict) else {}
        if not result.ok or body.get("apiResultCode") != 0 or not data.get("accessToken"):
            raise CarrierRejected(f"SF Express token answered {result.status}: {body.get('apiErrorMsg') or body}")
        seconds = int(data.get("expireIn") or data.get("expiresIn") or DEFAULT_TOKEN_SECONDS)
        return AccessToken(str(data["accessToken"]), now + timedelta(seconds=seconds))

    def _dispatch(self, msg_type: str, message: dict[str, Any], settings: AdapterSettings) -> OutboundRequest:
        """The plain request as stored and shown; `authorize` encrypts and signs it when it is sent."""
        return OutboundRequest(
            method="POST",
            url=f"{self._base(settings)}/openapi/api/dispatch",
            headers={"appKey": settings.get("APP_KEY") or "", "msgType": msg_type, "lang": "en"},
            json_body=message,
        )

    def authorize(
        self, request: OutboundRequest, settings: AdapterSettings, token: AccessToken | None, now: datetime, nonce: str
    ) -> OutboundRequest:
        if request.form is not None and "serviceCode" in request.form:
            stamp = str(int(now.timestamp()))
            digest = fengqiao_digest(request.form["msgData"], stamp, settings.get("CHECKWORD") or "")
            form = {**request.form, "timestamp": stamp, "msgDigest": digest}
            return OutboundRequest(method=request.method, url=request.url, headers=request.headers, form=form)
        if token is None or request.json_body is None or "msgType" not in request.headers:
            return request
        app_key = settings.get("APP_KEY") or ""
        timestamp = str(int(now.timestamp() * 1000))
        encrypted = encrypt(json.dumps(request.json_body, ensure_ascii=False), settings.get("AES_KEY") or "", app_key)
        headers = {
            **request.headers,
            "token": token.value,
            "timestamp": timestamp,
            "nonce": nonce,
            "signature": signature(token.value, timestamp, nonce, encrypted),
            "Content-Type": "application/json",
        }
        return OutboundRequest(method=request.method, url=request.url, headers=headers, content=encrypted)

    def unwrap(self, result: HttpResult, settings: AdapterSettings) -> HttpResult:
        """Decrypts `apiResultData`; an `apiResultCode` other than 0 is SF refusing the call (a 4xx in effect)."""
        body = result.body if isinstance(result.body, dict) else None
        if body is None or "apiResultCode" not in body:
            return result
        if body.get("apiResultCode") not in (0, "0", "A1000"):
            return HttpResult(400 if result.ok else result.status, body, result.headers)
        data = body.get("apiResultData")
        if isinstance(data, str) and data and settings.get("AES_KEY") and body.get("apiResultCode") == 0:
            data = json.loads(decrypt(data, settings.get("AES_KEY") or "", settings.get("APP_KEY") or ""))
        elif isinstance(data, str) and data.startswith("{"):
            data = json.loads(data)
        return HttpResult(result.status, {**body, "apiResultData": data}, result.headers)

    def _inner(self, result: HttpResult, what: str) -> dict[str, Any]:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok:
            raise CarrierRejected(f"SF Express {what} answered {result.status}: {body.get('apiErrorMsg') or body}")
        inner = found if isinstance(found := body.get("apiResultData"), dict) else {}
        if inner.get("success") is False:
            message = inner.get("msg") or inner.get("errorMsg") or inner.get("code") or inner
            raise CarrierRejected(f"SF Express {what} refused: {message}")
        return inner

    def build_return_shipment(self, order: ReturnShipmentOrder, settings: AdapterSettings) -> OutboundRequest:
        return self._dispatch("IUOP_CREATE_ORDER", self._order(order, settings), settings)

    def _order(
        self, order: ReturnShipmentOrder, settings: AdapterSettings, pickup: bool | None = None
    ) -> dict[str, Any]:
        invoice = returns_invoice(order)
        card = settings.get("MONTHLY_CARD") or ""
        parcels = []
        for line in invoice.lines:
            parcel: dict[str, Any] = {
                "name": line.description[:100],
                "eName": line.description[:100],
                "quantity": line.quantity,
                "unit": "PCS",
                "amount": json_number(line.unit_value.amount),
                "currency": invoice.currency,
                "originCountry": line.origin_country,
                "weight": json_number(line.net_weight_kg),
            }
            if line.hs_code:
                parcel["hsCode"] = line.hs_code
            parcels.append(parcel)
        message: dict[str, Any] = {
            "customerCode": settings.get("CUSTOMER_CODE") or "",
            "customerOrderNo": order.reference[:64],
            "interProductCode": INTERNATIONAL_PRODUCT,
            "parcelQuantity": 1,
            "parcelTotalWeight": json_number(order.total_weight_kg),
            "parcelWeightUnit": "KG",
            "declaredValue": json_number(invoice.total.amount),
            "declaredCurrency": invoice.currency,
            "pickupType": "1" if (order.pickup if pickup is None else pickup) else "0",
            "senderInfo": _party(order.shipper, "senderInfo"),
            "receiverInfo": _party(order.receiver, "receiverInfo"),
            "parcelInfoList": parcels,
            "paymentInfo": {"payMethod": "2", "payMonthCard": card, "taxPayMethod": "2", "taxPayMonthCard": card},
            "remark": f"Customer return of order {order.original_order_id}"[:200],
        }
        if order.cross_border:
            message["customsInfo"] = {
                "senderReason": 2,  # SDK SenderReasonEnum: 1 commerce, 2 non-commerce (a return is no sale)
                "senderReasonContent": f"Returned goods ({order.reason or 'return'})",
                "businessRemark": f"Returns invoice {invoice.number}",
            }
        return message

    def parse_return_shipment(self, result: HttpResult) -> BookedShipment:
        inner = self._inner(result, "order")
        data = found if isinstance(found := inner.get("data"), dict) else inner
        waybill = data.get("sfWaybillNo")
        if not waybill:
            raise CarrierRejected("SF Express answered without an sfWaybillNo")
        documents = {"label_url": data["labelUrl"]} if data.get("labelUrl") else {}
        if data.get("invoiceUrl"):
            documents["invoice_url"] = data["invoiceUrl"]
        return BookedShipment(tracking_number=str(waybill), documents=documents, raw={"sfWaybillNo": waybill})

    def build_pickup(
        self, order: ReturnShipmentOrder, window: PickupWindow, tracking_number: str | None, settings: AdapterSettings
    ) -> OutboundRequest:
        message = self._order(order, settings, pickup=True)
        message["pickupAppointTime"] = f"{window.day.isoformat()} {window.ready}:00"
        if tracking_number:
            message["sfWaybillNo"] = tracking_number
        return self._dispatch("IUOP_CREATE_ORDER", message, settings)

    def parse_pickup(self, result: HttpResult) -> BookedPickup:
        booked = self.parse_return_shipment(result)
        return BookedPickup(reference=booked.tracking_number or "", raw=booked.raw)

    def build_cancel_pickup(
        self, pickup_reference: str, order: ReturnShipmentOrder, window: PickupWindow, settings: AdapterSettings
    ) -> OutboundRequest:
        """Refused here: the international API as the SDK documents it has no cancellation (`orderOperateType`
        knows 1 add and 5 change order only), and a change order is not a cancellation."""
        raise CarrierRejected(
            f"SF Express offers no pickup cancellation in its international API: ask SF to cancel {pickup_reference}"
        )

    def parse_cancel_pickup(self, result: HttpResult) -> None:
        self._inner(result, "cancel")

    def build_tracking(self, tracking_number: str, settings: AdapterSettings) -> OutboundRequest:
        message = {"sfWaybillNoList": [tracking_number], "phoneNo": settings.get("PHONE_SUFFIX") or ""}
        return self._dispatch("GTS_QUERY_TRACK", message, settings)

    def parse_tracking(self, result: HttpResult) -> list[TrackingUpdate]:
        return self._routes(self._inner(result, "tracking"))

    def _routes(self, inner: dict[str, Any]) -> list[TrackingUpdate]:
        data = inner.get("data")
        waybills = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        updates = []
        for waybill in waybills:
            number = str(waybill.get("sfWaybillNo") or waybill.get("mailNo") or "")
            for route in waybill.get("trackDetailItems") or waybill.get("routes") or []:
                code = str(route.get("opCode") or "")
                updates.append(
                    TrackingUpdate(
                        carrier=self.name,
                        tracking_number=number,
                        code=code,
                        status=canonical_status(STATUS_CODES, code),
                        occurred_at=_instant(route),
                        description=str(route.get("trackOutRemark") or route.get("remark") or ""),
                        location=str(route.get("trackAddr") or route.get("acceptAddress") or ""),
                    )
                )
        return updates

    def build_intercept(self, order: InterceptOrder, settings: AdapterSettings) -> OutboundRequest:
        merchant = order.merchant
        message = {
            "waybillNo": order.tracking_number,
            "serviceCode": "2",
            "role": "1",
            "payMode": "3",
            "monthlyCardNo": settings.get("MONTHLY_CARD") or "",
            "newDestAddress": {
                "contact": merchant.name or "Returns",
                "phone": e164(merchant.phone, merchant.country, "newDestAddress.phone"),
                "province": merchant.region or "",
                "city": merchant.city or "",
                "address": " ".join(line for line in (merchant.line1, merchant.line2) if line),
            },
        }
        return OutboundRequest(
            method="POST",
            url=settings.get("FENGQIAO_URL") or FENGQIAO_SANDBOX_URL,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            form={
                "partnerID": settings.get("PARTNER_ID") or "",
                "requestID": f"rb-{order.case_id}-intercept",
                "serviceCode": "EXP_RECE_WANTED_INTERCEPT",
                "msgData": json.dumps(message, ensure_ascii=False, separators=(",", ":")),
            },
        )

    def parse_intercept(self, result: HttpResult) -> InterceptOutcome:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok:
            raise CarrierRejected(
                f"SF Express interception answered {result.status}: {body.get('apiErrorMsg') or body}"
            )
        inner = found if isinstance(found := body.get("apiResultData"), dict) else {}
        accepted = inner.get("success") is True
        return InterceptOutcome(
            accepted=accepted,
            reference=str(body.get("apiResponseID") or "") or None,
            message=str(inner.get("errorMsg") or ("interception accepted" if accepted else inner)),
        )

    def verify_tracking_push(
        self, request: InboundRequest, settings: AdapterSettings, now: datetime | None = None
    ) -> None:
        """Signature over token, timestamp, nonce and the encrypted body, and a fresh `timestamp` (milliseconds):
        the signature alone would let anyone who saw one push replay it forever."""
        secret, app_key, aes_key = settings.get("WEBHOOK_SECRET"), settings.get("APP_KEY"), settings.get("AES_KEY")
        if not (secret and app_key and aes_key):
            raise SignatureError("SF Express push verification needs RB_SF_EXPRESS_WEBHOOK_SECRET, APP_KEY and AES_KEY")
        timestamp, nonce = request.header("timestamp") or "", request.header("nonce") or ""
        _require_fresh(timestamp, now or datetime.now(UTC), _max_age(settings))
        expected = signature(secret, timestamp, nonce, request.body.decode(errors="replace"))
        presented = request.header("signature") or ""
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise SignatureError("SF Express push signature does not match")
        decrypt(request.body.decode(errors="replace"), aes_key, app_key)

    def parse_tracking_push(self, request: InboundRequest, settings: AdapterSettings) -> list[TrackingUpdate]:
        message = decrypt(
            request.body.decode(errors="replace"), settings.get("AES_KEY") or "", settings.get("APP_KEY") or ""
        )
        try:
            inner = json.loads(message)
        except ValueError as exc:
            raise PayloadError("SF Express push is not JSON inside") from exc
        return self._routes(inner if isinstance(inner, dict) else {"data": inner})


def _max_age(settings: AdapterSettings) -> timedelta:
    raw = settings.get("PUSH_MAX_AGE_SECONDS") or str(DEFAULT_PUSH_MAX_AGE_SECONDS)
    try:
        seconds = int(raw)
    except ValueError as exc:
        raise SignatureError(f"RB_SF_EXPRESS_PUSH_MAX_AGE_SECONDS {raw!r} is not a whole number") from exc
    return timedelta(seconds=max(seconds, 1))


def _require_fresh(timestamp: str, now: datetime, max_age: timedelta) -> None:
    """The push's `timestamp` header (epoch milliseconds) within `max_age` of now, either way (clock skew)."""
    if not timestamp.isdigit():
        raise SignatureError("SF Express push has no timestamp header in epoch milliseconds")
    sent = datetime.fromtimestamp(int(timestamp) / 1000, tz=UTC)
    if abs(now - sent) > max_age:
        raise SignatureError(
            f"SF Express push timestamp {sent.isoformat()} is more than {int(max_age.total_seconds())} s from now: "
            "refused as a replay"
        )


def _instant(route: dict[str, Any]) -> datetime:
    """SF route times are China local time "yyyy-MM-dd HH:mm:ss" unless an offset is given."""
    text = str(route.get("localTm") or route.get("acceptTime") or route.get("barScanTm") or "")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PayloadError(f"SF route time {text!r} is not a date-time", {"acceptTime": ["invalid"]}) from exc
    if moment.tzinfo is None:
        offset = str(route.get("timeZone") or "+08:00")
        moment = datetime.fromisoformat(f"{text.replace(' ', 'T')}{offset}")
    return moment.astimezone(UTC)


CARRIERS.register("sf_express", SfExpress())
