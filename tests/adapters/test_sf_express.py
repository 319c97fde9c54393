import base64
import hashlib
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest
import responses

from adapters.carriers.base import CarrierRejected, InterceptOrder, SignatureError
from adapters.carriers.gateway import CarrierGateway
from adapters.carriers.sf_express import SfExpress, decrypt, encrypt, fengqiao_digest, signature
from adapters.http import HttpClient
from config.settings import AdapterSettings
from core.tracking import TrackingStatus
from tests.adapters.carrier_fixtures import MERCHANT, inbound, order, settings

SF = SfExpress()
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # SF hands out 43 characters
CONFIGURED = settings(
    "sf_express",
    APP_KEY="app-1",
    APP_SECRET="secret-1",
    AES_KEY=AES_KEY,
    CUSTOMER_CODE="CUST01",
    MONTHLY_CARD="7550000000",
    BASE_URL="https://sf.test",
    PARTNER_ID="PARTNER",
    CHECKWORD="checkword",
    FENGQIAO_URL="https://fq.test/std/service",
    WEBHOOK_SECRET="push-secret",
)


def clock() -> datetime:
    return datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def test_encryption_round_trips_and_refuses_another_app_key():
    sealed = encrypt('{"a":1}', AES_KEY, "app-1")
    assert decrypt(sealed, AES_KEY, "app-1") == '{"a":1}'
    with pytest.raises(SignatureError):
        decrypt(sealed, AES_KEY, "someone-else")


def test_signature_is_sha256_of_the_sorted_parts():
    expected = hashlib.sha256("".join(sorted(["tok", "1700", "n-1", "BODY"])).encode()).hexdigest()
    assert signature("tok", "1700", "n-1", "BODY") == expected


def test_fengqiao_digest_follows_the_sample_sdk():
    expected = base64.b64encode(hashlib.md5(urllib.parse.quote_plus("{}" + "1700" + "cw").encode()).digest()).decode()
    assert fengqiao_digest("{}", "1700", "cw") == expected


def test_create_order_fields_for_a_cross_border_return():
    message = SF.build_return_shipment(order(pickup=True), CONFIGURED).json_body
    assert message["customerCode"] == "CUST01" and message["customerOrderNo"] == "RMA-2026-0001"
    assert message["interProductCode"] == "INT0014" and message["parcelQuantity"] == 1
    assert message["pickupType"] == "1"
    assert message["declaredValue"] == 50 and message["declaredCurrency"] == "EUR"
    assert message["senderInfo"]["country"] == "DE" and message["receiverInfo"]["country"] == "CN"
    assert message["parcelInfoList"][0] == {
        "name": "Cotton T-shirt",
        "eName": "Cotton T-shirt",
        "quantity": 1,
        "unit": "PCS",
        "amount": 25,
        "currency": "EUR",
        "originCountry": "CN",
        "weight": 0.3,
        "hsCode": "610910",
    }
    assert message["customsInfo"]["senderReasonContent"].startswith("Returned goods")
    assert SF.build_return_shipment(order(pickup=False), CONFIGURED).json_body["pickupType"] == "0"


@responses.activate
def test_dispatch_is_encrypted_signed_and_the_answer_decrypted():
    responses.get(
        "https://sf.test/openapi/api/token",
        json={"apiResultCode": 0, "apiErrorMsg": "", "apiResultData": {"accessToken": "sf-token"}},
    )
    inner = {"success": True, "code": "0", "data": {"sfWaybillNo": "SF1234567890", "labelUrl": "https://l"}}
    responses.post(
        "https://sf.test/openapi/api/dispatch",
        json={"apiResultCode": 0, "apiResultData": encrypt(json.dumps(inner), AES_KEY, "app-1")},
    )
    gateway = CarrierGateway(HttpClient(), clock, nonce=lambda: "nonce-1")
    outcome = gateway.book_return(SF, order(), CONFIGURED)
    assert outcome.result.tracking_number == "SF1234567890"
    sent = responses.calls[1].request
    assert sent.headers["msgType"] == "IUOP_CREATE_ORDER" and sent.headers["token"] == "sf-token"
    assert sent.headers["nonce"] == "nonce-1" and sent.headers["timestamp"] == str(int(clock().timestamp() * 1000))
    body = sent.body.decode() if isinstance(sent.body, bytes) else sent.body
    assert sent.headers["signature"] == signature("sf-token", sent.headers["timestamp"], "nonce-1", body)
    assert json.loads(decrypt(body, AES_KEY, "app-1"))["customerOrderNo"] == "RMA-2026-0001"
    assert outcome.request["body"]["customerOrderNo"] == "RMA-2026-0001"  # shown in clear, never encrypted


@responses.activate
def test_sf_refusal_carries_its_message():
    responses.get("https://sf.test/openapi/api/token", json={"apiResultCode": 0, "apiResultData": {"accessToken": "t"}})
    responses.post(
        "https://sf.test/openapi/api/dispatch", json={"apiResultCode": 4001, "apiErrorMsg": "customerCode invalid"}
    )
    with pytest.raises(CarrierRejected, match="customerCode invalid"):
        CarrierGateway(HttpClient(), clock).book_return(SF, order(), CONFIGURED)


@responses.activate
def test_interception_goes_to_fengqiao_signed_with_the_checkword():
    responses.post(
        "https://fq.test/std/service",
        json={"apiResultCode": "A1000", "apiResponseID": "R1", "apiResultData": '{"success":true,"errorCode":"S0000"}'},
    )
    outcome = CarrierGateway(HttpClient(), clock).intercept(
        SF, InterceptOrder("case-1", "SF444201931741", MERCHANT), CONFIGURED
    )
    assert outcome.sent and outcome.result.accepted
    form = dict(urllib.parse.parse_qsl(responses.calls[0].request.body))
    assert form["serviceCode"] == "EXP_RECE_WANTED_INTERCEPT" and form["partnerID"] == "PARTNER"
    assert json.loads(form["msgData"])["serviceCode"] == "2"  # 退回: back to the sender
    assert form["msgDigest"] == fengqiao_digest(form["msgData"], form["timestamp"], "checkword")
    assert len(responses.calls) == 1  # no international token for a Fengqiao call


def test_route_push_verified_and_parsed():
    routes = {
        "data": [{"sfWaybillNo": "SF1", "trackDetailItems": [{"opCode": "80", "localTm": "2026-07-05 14:00:00"}]}]
    }
    body = encrypt(json.dumps(routes), AES_KEY, "app-1")
    stamp = str(int(PUSHED_AT.timestamp() * 1000))
    headers = {"timestamp": stamp, "nonce": "n", "signature": signature("push-secret", stamp, "n", body)}
    SF.verify_tracking_push(inbound(body.encode(), **headers), CONFIGURED, now=PUSHED_AT)
    [update] = SF.parse_tracking_push(inbound(body.encode()), CONFIGURED)
    assert update.status == TrackingStatus.DELIVERED_TO_WAREHOUSE
    assert update.occurred_at == datetime(2026, 7, 5, 6, 0, tzinfo=UTC)
    with pytest.raises(SignatureError):
        SF.verify_tracking_push(inbound(body.encode(), **{**headers, "signature": "0" * 64}), CONFIGURED, now=PUSHED_AT)


PUSHED_AT = datetime(2026, 7, 5, 6, 1, tzinfo=UTC)


def _signed_push(stamp: str) -> tuple[bytes, dict[str, str]]:
    body = encrypt(json.dumps({"data": [{"sfWaybillNo": "SF1", "trackDetailItems": []}]}), AES_KEY, "app-1")
    return body.encode(), {"timestamp": stamp, "nonce": "n", "signature": signature("push-secret", stamp, "n", body)}


@pytest.mark.parametrize(
    ("sent", "accepted"),
    [(timedelta(0), True), (timedelta(minutes=-4), True), (timedelta(minutes=-6), False),
     (timedelta(days=-30), False), (timedelta(minutes=6), False)],
)  # fmt: skip
def test_a_replayed_or_stale_sf_push_is_refused_even_with_a_good_signature(sent: timedelta, accepted: bool) -> None:
    """A captured push stays correctly signed forever; only its timestamp says it is old (default 300 s)."""
    body, headers = _signed_push(str(int((PUSHED_AT + sent).timestamp() * 1000)))
    if accepted:
        SF.verify_tracking_push(inbound(body, **headers), CONFIGURED, now=PUSHED_AT)
    else:
        with pytest.raises(SignatureError, match="replay"):
            SF.verify_tracking_push(inbound(body, **headers), CONFIGURED, now=PUSHED_AT)


def test_the_sf_push_age_limit_is_a_setting() -> None:
    body, headers = _signed_push(str(int((PUSHED_AT - timedelta(minutes=10)).timestamp() * 1000)))
    relaxed = AdapterSettings(name="sf_express", env={**CONFIGURED.env, "RB_SF_EXPRESS_PUSH_MAX_AGE_SECONDS": "900"})
    SF.verify_tracking_push(inbound(body, **headers), relaxed, now=PUSHED_AT)
    with pytest.raises(SignatureError):
        SF.verify_tracking_push(inbound(body, **{**headers, "timestamp": "yesterday"}), relaxed, now=PUSHED_AT)


# Tencent's published BizMsgCrypt vector (developer.work.weixin.qq.com/document/path/90968): SF's international
# API encrypts as BizMsgCrypt does (the SDK we follow, smart-dato/sf-express-sdk, ships it as `BizMsgCrypt`/
# `AesCrypt`) and signs the same sorted concatenation with SHA-256 instead of SHA-1.
TENCENT = {
    "token": "QDG6eK",
    "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "receive_id": "wx5823bf96d3bd56c7",
    "timestamp": "1409659813",
    "nonce": "1372623149",
    "msg_signature_sha1": "477715d11cdb4164915debcba66cb864d751f3e6",
    "encrypt": (
        "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvu"
        "JTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwG"
        "c2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9"
        "EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0"
        "lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
    ),
}


def test_sf_decryption_meets_the_published_bizmsgcrypt_vector() -> None:
    plain = decrypt(TENCENT["encrypt"], TENCENT["encoding_aes_key"], TENCENT["receive_id"])
    assert "<Content><![CDATA[hello]]></Content>" in plain and "<MsgId>4561255354251345929</MsgId>" in plain
    with pytest.raises(SignatureError):
        decrypt(TENCENT["encrypt"], TENCENT["encoding_aes_key"], "another-app")


def test_sf_signature_signs_what_the_published_vector_signs() -> None:
    """The vector's SHA-1 proves which string is signed (sorted token, timestamp, nonce, ciphertext); SF
    signs that same string with SHA-256 (the SDK's BizMsgCrypt::signature, hash('sha256', ...))."""
    parts = [TENCENT["token"], TENCENT["timestamp"], TENCENT["nonce"], TENCENT["encrypt"]]
    signed = "".join(sorted(parts)).encode()
    assert hashlib.sha1(signed).hexdigest() == TENCENT["msg_signature_sha1"]
    assert signature(*parts) == hashlib.sha256(signed).hexdigest()
