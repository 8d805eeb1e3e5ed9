"""Every protobuf enum of the inventory contract and the domain enum it carries, paired once.

``EnumCodec`` matches the two by the JSON profile's names and refuses at import when they differ, so no
module maps an inventory enum by hand.
"""

from __future__ import annotations

from shop.inventory.v1 import inventory_pb2 as pb

from libs.enums import EnumCodec
from services.inventory.domain.access import Purpose
from services.inventory.domain.counts import CountKind, DamagedDisposition
from services.inventory.domain.receipts import ReceiptStatus
from services.inventory.domain.receiving import InspectionStage, Verdict
from services.inventory.domain.reservations import HoldStatus, ReservationStatus
from services.inventory.domain.skus import SkuKind
from services.inventory.domain.supplier_returns import SupplierKind
from services.inventory.domain.transfers import TransferStatus

SKU_KIND = EnumCodec(pb.SkuKind, SkuKind)
RESERVATION_STATUS = EnumCodec(pb.ReservationStatus, ReservationStatus)
HOLD_STATUS = EnumCodec(pb.HoldStatus, HoldStatus)
ACCESS_PURPOSE = EnumCodec(pb.AccessPurpose, Purpose)
RECEIPT_STATUS = EnumCodec(pb.ReceiptStatus, ReceiptStatus)
QC_VERDICT = EnumCodec(pb.QcVerdict, Verdict)
INSPECTION_STAGE = EnumCodec(pb.InspectionStage, InspectionStage)
TRANSFER_STATUS = EnumCodec(pb.TransferStatus, TransferStatus)
COUNT_KIND = EnumCodec(pb.CountKind, CountKind)
DAMAGED_DISPOSITION = EnumCodec(pb.DamagedDisposition, DamagedDisposition)
SUPPLIER_KIND = EnumCodec(pb.SupplierKind, SupplierKind)
