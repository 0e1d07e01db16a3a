"""Enumerated vocabularies of the contract (§1.6), one tuple per enum.

Each tuple is attached to the ``Column.enum`` of every column that uses it, so enum checks (C13),
generator draws and docs come from this single list instead of being restated.  Order is the
contract's listed order: generators that draw by index depend on it.
"""

from __future__ import annotations

RECEIPT_TYPE: tuple[str, ...] = ("SALE", "RETURN")

PAYMENT_METHOD_STORE: tuple[str, ...] = ("CREDIT_CARD", "DEBIT_CARD", "CASH", "MOBILE_PAY")
PAYMENT_METHOD_ONLINE: tuple[str, ...] = ("CREDIT_CARD", "DEBIT_CARD", "PAYPAL", "OTHER")
PAYMENT_METHOD: tuple[str, ...] = ("CREDIT_CARD", "DEBIT_CARD", "CASH", "MOBILE_PAY", "PAYPAL", "OTHER")
"""Union of the in-store and online tenders (fact_payments carries both)."""

TRANSACTION_TYPE: tuple[str, ...] = ("PURCHASE", "REFUND")
PAYMENT_STATUS: tuple[str, ...] = ("APPROVED", "DECLINED")
DECLINE_REASON: tuple[str, ...] = (
    "INSUFFICIENT_FUNDS",
    "CARD_EXPIRED",
    "INVALID_CVV",
    "NETWORK_ERROR",
    "FRAUD_SUSPECTED",
    "CARD_BLOCKED",
    "LIMIT_EXCEEDED",
)
LOCATION_TYPE: tuple[str, ...] = ("STORE", "DC")
TXN_TYPE_STORE: tuple[str, ...] = (
    "SALE",
    "RETURN",
    "ONLINE_SALE",
    "INBOUND_SHIPMENT",
    "ADJUSTMENT",
    "DAMAGED",
)
TXN_TYPE_DC: tuple[str, ...] = ("INBOUND_SHIPMENT", "OUTBOUND_SHIPMENT", "ONLINE_SALE", "ADJUSTMENT")
PRIORITY: tuple[str, ...] = ("NORMAL", "HIGH", "URGENT")
ROUTE_TYPE: tuple[str, ...] = ("DC_TO_STORE", "SUPPLIER_TO_DC")
MOVE_TYPE: tuple[str, ...] = ("DEPARTED", "ARRIVED")
TEMPERATURE_CLASS: tuple[str, ...] = ("REFRIGERATED", "AMBIENT")
TRUCK_ACTION: tuple[str, ...] = ("LOAD", "UNLOAD")
ZONE: tuple[str, ...] = ("ENTRANCE", "GROCERY", "ELECTRONICS", "CLOTHING", "CHECKOUT")
CAMPAIGN_TYPE: tuple[str, ...] = ("SEASONAL_SALE", "PRODUCT_LAUNCH", "LOYALTY_PROGRAM", "FLASH_SALE")
CHANNEL: tuple[str, ...] = (
    "FACEBOOK",
    "GOOGLE",
    "EMAIL",
    "INSTAGRAM",
    "YOUTUBE",
    "DISPLAY",
    "SOCIAL",
    "SEARCH",
)
DEVICE_TYPE: tuple[str, ...] = ("MOBILE", "DESKTOP", "TABLET")
DISCOUNT_TYPE: tuple[str, ...] = ("PERCENTAGE", "BOGO", "FIXED_AMOUNT")
PROMO_CODE_STORE: tuple[str, ...] = (
    "SAVE10",
    "SAVE15",
    "SAVE20",
    "SAVE25",
    "BOGO50",
    "CLEARANCE30",
    "CLEARANCE50",
    "BFRIDAY30",
    "BFRIDAY40",
    "SUMMER25",
    "BACKTOSCHOOL",
    "HOLIDAY20",
    "NEWYEAR15",
    "FIVEOFF40",
)
PROMO_CODE_ONLINE: tuple[str, ...] = ("PROMO5", "PROMO10", "PROMO20")
FULFILLMENT_MODE: tuple[str, ...] = ("SHIP_FROM_DC", "SHIP_FROM_STORE", "BOPIS")
NODE_TYPE: tuple[str, ...] = ("STORE", "DC")
LINE_STATUS: tuple[str, ...] = ("PICKED", "SHIPPED", "DELIVERED")
OPERATION_TYPE: tuple[str, ...] = ("OPENED", "CLOSED")
VOLUME_CLASS: tuple[str, ...] = ("FLAGSHIP", "HIGH_VOLUME", "MEDIUM_VOLUME", "LOW_VOLUME", "KIOSK")
STORE_FORMAT: tuple[str, ...] = ("HYPERMARKET", "SUPERSTORE", "STANDARD", "NEIGHBORHOOD", "EXPRESS")
OPERATING_HOURS: tuple[str, ...] = ("24/7", "06:00-24:00", "08:00-22:00", "09:00-21:00", "09:00-18:00")
TAXABILITY: tuple[str, ...] = ("TAXABLE", "REDUCED_RATE", "NON_TAXABLE")
FLEET: tuple[str, ...] = ("DC_TO_STORE", "SUPPLIER")

# Control-table vocabularies (§2, §8.3); values as the contract writes them (``path`` is lower case).
MANIFEST_PATH: tuple[str, ...] = ("batch", "stream")
SOURCE: tuple[str, ...] = ("batch", "stream")
SCHEDULE_ACTION_TYPE: tuple[str, ...] = (
    "TRUCK_MOVE_ROW",
    "TRUCK_INVENTORY_ROW",
    "STORE_RECEIVING",
    "DC_RECEIVING",
    "RETURN_VISIT",
    "ORDER_LINE_ROW",
    "SUPPLIER_SLOT",
)
SINK: tuple[str, ...] = ("eventhub", "local")

ENUMS: dict[str, tuple[str, ...]] = {
    "receipt_type": RECEIPT_TYPE,
    "payment_method": PAYMENT_METHOD,
    "payment_method_store": PAYMENT_METHOD_STORE,
    "payment_method_online": PAYMENT_METHOD_ONLINE,
    "transaction_type": TRANSACTION_TYPE,
    "status": PAYMENT_STATUS,
    "decline_reason": DECLINE_REASON,
    "location_type": LOCATION_TYPE,
    "txn_type_store": TXN_TYPE_STORE,
    "txn_type_dc": TXN_TYPE_DC,
    "priority": PRIORITY,
    "route_type": ROUTE_TYPE,
    "move_type": MOVE_TYPE,
    "temperature_class": TEMPERATURE_CLASS,
    "action": TRUCK_ACTION,
    "zone": ZONE,
    "campaign_type": CAMPAIGN_TYPE,
    "channel": CHANNEL,
    "device_type": DEVICE_TYPE,
    "discount_type": DISCOUNT_TYPE,
    "promo_code_store": PROMO_CODE_STORE,
    "promo_code_online": PROMO_CODE_ONLINE,
    "fulfillment_mode": FULFILLMENT_MODE,
    "node_type": NODE_TYPE,
    "line_status": LINE_STATUS,
    "operation_type": OPERATION_TYPE,
    "volume_class": VOLUME_CLASS,
    "store_format": STORE_FORMAT,
    "operating_hours": OPERATING_HOURS,
    "taxability": TAXABILITY,
    "fleet": FLEET,
    "manifest_path": MANIFEST_PATH,
    "schedule_action_type": SCHEDULE_ACTION_TYPE,
    "sink": SINK,
}
"""All vocabularies by name, for docs and for tests that iterate them."""
