"""Printable warehouse documents (LOG-2 to LOG-5): pick and sort lists, shipping labels, packing slips and
hand-over manifests, rendered from plain values to PDF (and the manifest to CSV).

Pure: no database, no gRPC. The caller builds the values of ``model`` and gets bytes back. All text is set
in reportlab's built-in Chinese font (``fonts``), and the same values always give the same bytes.
"""

from services.logistics.documents.fonts import FONT
from services.logistics.documents.labels import labels_pdf, mask_phone
from services.logistics.documents.lists import pick_list_pdf, sort_list_pdf
from services.logistics.documents.manifests import manifest_csv, manifest_pdf
from services.logistics.documents.model import (
    Address,
    Label,
    Manifest,
    ManifestParcel,
    PackingSlip,
    PickList,
    PickListLine,
    SlipLine,
    SortList,
    SortParcel,
)
from services.logistics.documents.slips import packing_slips_pdf

__all__ = [
    "FONT",
    "Address",
    "Label",
    "Manifest",
    "ManifestParcel",
    "PackingSlip",
    "PickList",
    "PickListLine",
    "SlipLine",
    "SortList",
    "SortParcel",
    "labels_pdf",
    "manifest_csv",
    "manifest_pdf",
    "mask_phone",
    "packing_slips_pdf",
    "pick_list_pdf",
    "sort_list_pdf",
]
