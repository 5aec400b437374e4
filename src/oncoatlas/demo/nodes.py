"""The three demo nodes: institutions, scanners, transfer syntaxes and cohort mix.

``oslo`` is the central node (its datasets grant record-level access to approved users);
``milano`` and ``leuven`` are federated nodes that only answer counts. Each node has its own
scanners (manufacturer/model), series descriptions and transfer syntaxes, as real archives
differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oncoatlas.demo.dicom import Equipment

__all__ = ["KINDS", "NODES", "SIZES", "NodeSpec"]

#: Patient kinds: (dataset suffix, cancer site, modality).
KINDS: dict[str, tuple[str, str, str]] = {
    "lung": ("lung-ct", "C34", "CT"),
    "lung_control": ("lung-ct", "none", "CT"),
    "breast": ("breast-screening", "C50", "MG"),
    "breast_control": ("breast-screening", "none", "MG"),
    "prostate": ("prostate-mr", "C61", "MR"),
}

#: Multiplier of each node's base mix per size (``tiny`` is for the generator's own tests).
SIZES: dict[str, float] = {"tiny": 0.1, "small": 1.0, "medium": 10.0}


@dataclass(frozen=True)
class NodeSpec:
    """One node of the demo federation."""

    name: str
    role: str
    port: int
    access: str
    prefix: str
    provider: str
    country: str
    contact: str
    ct: Equipment
    mr: Equipment
    mg: Equipment
    ct_description: str
    t2_description: str
    adc_description: str
    mg_description: str
    syntax: dict[str, str]
    ct_noise_hu: float
    mix: dict[str, int] = field(default_factory=dict)


def _eq(
    manufacturer: str, model: str, institution: str, station: str, software: str, serial: str
) -> Equipment:
    return Equipment(manufacturer, model, institution, station, software, serial)


_OSLO = "Oslo University Hospital (synthetic)"
_MILANO = "Istituto Oncologico di Milano (synthetic)"
_LEUVEN = "University Hospitals Leuven (synthetic)"

NODES: tuple[NodeSpec, ...] = (
    NodeSpec(
        name="oslo",
        role="central",
        port=8101,
        access="record",
        prefix="OSLO",
        provider=_OSLO,
        country="NO",
        contact="data-access@oslo.example",
        ct=_eq("SIEMENS", "SOMATOM Force", _OSLO, "OUSCT01", "syngo CT VB20", "75123"),
        mr=_eq("SIEMENS", "MAGNETOM Vida", _OSLO, "OUSMR02", "syngo MR XA50", "175432"),
        mg=_eq("HOLOGIC, Inc.", "Selenia Dimensions", _OSLO, "OUSMG03", "1.11.1", "SDM11223"),
        ct_description="Thorax 2.5 Br59 lung",
        t2_description="t2_tse_tra",
        adc_description="ep2d_diff_tra_ADC",
        mg_description="Screening mammography",
        syntax={"CT": "explicit", "MR": "explicit", "MG": "j2k"},
        ct_noise_hu=12.0,
        mix={"lung": 20, "lung_control": 8, "breast": 16, "breast_control": 10, "prostate": 12},
    ),
    NodeSpec(
        name="milano",
        role="federated",
        port=8102,
        access="count",
        prefix="MIL",
        provider=_MILANO,
        country="IT",
        contact="dati.ricerca@milano.example",
        ct=_eq("GE MEDICAL SYSTEMS", "Revolution CT", _MILANO, "MICT1", "revo_ct_22", "RCT0042"),
        mr=_eq("GE MEDICAL SYSTEMS", "SIGNA Premier", _MILANO, "MIMR1", "MR30.1", "SP0007"),
        mg=_eq("GE MEDICAL SYSTEMS", "Senographe Pristina", _MILANO, "MIMG1", "ADS_56", "SEN3131"),
        ct_description="TORACE 2.5mm LUNG",
        t2_description="Ax T2 FRFSE",
        adc_description="Apparent Diffusion Coefficient (mm2/s)",
        mg_description="MAMMOGRAFIA DI SCREENING",
        syntax={"CT": "j2k", "MR": "implicit", "MG": "rle"},
        ct_noise_hu=16.0,
        mix={"lung": 14, "lung_control": 6, "breast": 22, "breast_control": 12, "prostate": 10},
    ),
    NodeSpec(
        name="leuven",
        role="federated",
        port=8103,
        access="count",
        prefix="LEU",
        provider=_LEUVEN,
        country="BE",
        contact="research-data@leuven.example",
        ct=_eq("Philips", "IQon - Spectral CT", _LEUVEN, "UZLCT5", "4.7.5", "IQ12077"),
        mr=_eq("Philips", "Ingenia Elition X", _LEUVEN, "UZLMR3", "5.7.1", "EX3090"),
        mg=_eq("Philips", "MicroDose SI", _LEUVEN, "UZLMG2", "L50", "MD5521"),
        ct_description="Chest iDose4 2.5mm",
        t2_description="T2W_TSE_ax",
        adc_description="dADC",
        mg_description="Bilateral screening mammography",
        syntax={"CT": "implicit", "MR": "rle", "MG": "explicit"},
        ct_noise_hu=20.0,
        mix={"lung": 16, "lung_control": 7, "breast": 12, "breast_control": 8, "prostate": 18},
    ),
)
