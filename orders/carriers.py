"""The carriers the shop ships with, and where a shopper follows a parcel on each one's site."""

from urllib.parse import quote

from django.db import models


class Carrier(models.TextChoices):
    ROYAL_MAIL = "royal_mail", "Royal Mail"
    PARCELFORCE = "parcelforce", "Parcelforce Worldwide"
    DPD = "dpd", "DPD"
    DHL = "dhl", "DHL Express"
    UPS = "ups", "UPS"
    FEDEX = "fedex", "FedEx"


TRACKING_URLS: dict[str, str] = {
    Carrier.ROYAL_MAIL: "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    Carrier.PARCELFORCE: "https://www.parcelforce.com/track-trace?trackNumber={number}",
    Carrier.DPD: "https://track.dpd.co.uk/parcels/{number}",
    Carrier.DHL: "https://www.dhl.com/gb-en/home/tracking/tracking-express.html?submit=1&tracking-id={number}",
    Carrier.UPS: "https://www.ups.com/track?loc=en_GB&tracknum={number}",
    Carrier.FEDEX: "https://www.fedex.com/fedextrack/?trknbr={number}",
}


def carrier_tracking_url(*, carrier: str, tracking_number: str) -> str:
    """The carrier's tracking page for this parcel, or "" for an unknown carrier or no number."""
    template = TRACKING_URLS.get(carrier)
    if not template or not tracking_number:
        return ""
    return template.format(number=quote(tracking_number, safe=""))
