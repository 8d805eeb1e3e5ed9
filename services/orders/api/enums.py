"""Every protobuf enum of the orders contract and the domain enum it carries, paired once.

``EnumCodec`` matches the two by the JSON profile's names and refuses at import when they differ, so no
module maps an orders enum by hand.
"""

from __future__ import annotations

from shop.orders.v1 import orders_pb2 as pb

from libs.enums import EnumCodec
from services.orders.domain.intake import Channel
from services.orders.domain.promotions import PromotionKind
from services.orders.domain.states import OrderStatus

CHANNEL = EnumCodec(pb.Channel, Channel)
ORDER_STATUS = EnumCodec(pb.OrderStatus, OrderStatus)
PROMOTION_KIND = EnumCodec(pb.PromotionKind, PromotionKind)
