"""Quarantine rules for images that may carry burned-in identifying text.

The Basic Profile (PS3.15 E.1.1) requires that identifying information burned into pixel
data be removed or that such instances not be released; header de-identification alone
cannot do that. Following the Clean Pixel Data Option's rationale (PS3.15 E.3.1), an
instance is quarantined (not written) unless explicitly allowed when:

- Burned In Annotation (0028,0301) is ``YES``;
- its SOP class is one where text in the image is common: Secondary Capture (single and
  multi-frame), Ultrasound (single and multi-frame), Visible Light photographic/video
  endoscopic/microscopic images, encapsulated documents (PDF, CDA, STL...);
- its Modality is US, OT (other: screenshots), SC, XC (external camera), ES, GM, SM or DOC,
  or its Image Type names a screen capture, or a Conversion Type (0008,0064) says it was
  digitised or captured.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

__all__ = ["AT_RISK_MODALITIES", "AT_RISK_SOP_CLASSES", "burned_in_reason"]

AT_RISK_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.6": "Ultrasound Image Storage (Retired)",
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image Storage",
    "1.2.840.10008.5.1.4.1.1.6.2": "Enhanced US Volume Storage",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image Storage (Retired)",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.1.1": "Video Endoscopic Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.2.1": "Video Microscopic Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VL Photographic Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.4.1": "Video Photographic Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.1": "VL Endoscopic Image Storage",
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF Storage",
    "1.2.840.10008.5.1.4.1.1.104.2": "Encapsulated CDA Storage",
    "1.2.840.10008.5.1.4.1.1.104.3": "Encapsulated STL Storage",
}

AT_RISK_MODALITIES: frozenset[str] = frozenset({"US", "OT", "SC", "XC", "ES", "GM", "SM", "DOC"})
_SCREEN_IMAGE_TYPES = frozenset({"SCREEN SAVE", "SCREENSHOT", "SCREEN CAPTURE", "CAPTURE"})


def burned_in_reason(ds: Dataset) -> str | None:
    """Why ``ds`` may carry burned-in identifying text, or ``None`` if it does not seem to.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The (original) data set.

    Returns
    -------
    str or None
        A short reason naming the attribute and value, for the run report.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.Modality = "US"
    >>> burned_in_reason(ds)
    'Modality US is at risk of burned-in annotation'
    """
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return "BurnedInAnnotation is YES"
    sop_class = str(ds.get("SOPClassUID", "") or "").strip()
    if sop_class in AT_RISK_SOP_CLASSES:
        return f"SOP class {AT_RISK_SOP_CLASSES[sop_class]} is at risk of burned-in annotation"
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality in AT_RISK_MODALITIES:
        return f"Modality {modality} is at risk of burned-in annotation"
    image_type = ds.get("ImageType", None)
    if image_type:
        values = [image_type] if isinstance(image_type, str) else list(image_type)
        if any(str(v).strip().upper() in _SCREEN_IMAGE_TYPES for v in values):
            return "ImageType names a screen capture"
    if "ConversionType" in ds:
        return "ConversionType is present (digitised or captured image)"
    return None
