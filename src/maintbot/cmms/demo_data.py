"""Deterministic generator of the demo CMMS database described in the shared ``DEMO_DATA.md``.

``generate`` builds the rows in memory from one seed, an as-of date and a scale factor, using only
``random.Random`` streams seeded from those values, so the same inputs give the same rows byte for byte.
``write_demo_database`` writes them through SQLAlchemy Core to SQLite (atomically) or PostgreSQL.

All monetary amounts, hours and rates are multiples of 0.25: they are exact in binary floating point, so
``labor_cost = labor_hours * hourly_rate`` and ``parts_cost = SUM(quantity * unit_cost)`` hold exactly in
SQL, even in PostgreSQL's 4-byte ``REAL``.
"""

import asyncio
import datetime
import math
import os
import pathlib
import random
import uuid
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from itertools import accumulate
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateTable

from maintbot.cmms.models import metadata
from maintbot.settings import to_async_url

_T = TypeVar("_T")
RowValue = int | float | str | bool | datetime.date | datetime.datetime | None
Row = dict[str, RowValue]

MAX_SCALE: Final = 40.0
_HISTORY_DAYS: Final = 3 * 365
_READING_DAYS: Final = 90
_READING_STEP: Final = datetime.timedelta(hours=6)
_INSERT_BATCH: Final = 20_000
_OPEN_STATUSES: Final = ("open", "in_progress", "on_hold")
_MONITORED_TYPES: Final = ("pump", "compressor", "motor", "boiler", "chiller")


# --------------------------------------------------------------------------------------------------
# Reference data: what a plausible multi-site plant looks like.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Choice(Generic[_T]):
    """A weighted choice, with cumulative weights computed once instead of on every draw."""

    values: tuple[_T, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, *options: tuple[_T, float]) -> "_Choice[_T]":
        return cls(tuple(value for value, _ in options), tuple(accumulate(weight for _, weight in options)))

    def pick(self, rng: random.Random) -> _T:
        return self.values[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


def _criticality(high: float, medium: float, low: float) -> _Choice[str]:
    return _Choice.of(("high", high), ("medium", medium), ("low", low))


@dataclass(frozen=True, slots=True)
class _SiteProfile:
    code: str
    name: str
    city: str
    country: str
    size: float  # relative share of the equipment, technicians and stock
    hourly_rate: tuple[float, float]  # USD range for a mechanical technician
    english_names: bool


_SITES: Final = (
    _SiteProfile("MTY", "Monterrey Plant", "Monterrey", "Mexico", 1.3, (9.0, 14.0), False),
    _SiteProfile("GDL", "Guadalajara Plant", "Guadalajara", "Mexico", 1.0, (8.5, 13.0), False),
    _SiteProfile("BOG", "Bogotá Plant", "Bogotá", "Colombia", 0.9, (7.5, 12.0), False),
    _SiteProfile("MAD", "Madrid Plant", "Madrid", "Spain", 0.8, (22.0, 32.0), False),
    _SiteProfile("HOU", "Houston Plant", "Houston", "United States", 1.0, (32.0, 48.0), True),
)


@dataclass(frozen=True, slots=True)
class _MetricProfile:
    metric: str
    baseline: tuple[float, float]  # range of one asset's normal level
    noise: float  # reading-to-reading standard deviation, as a fraction of the baseline
    daily_swing: float  # amplitude of the day/night load cycle, as a fraction of the baseline


def _temperature(low: float, high: float) -> _MetricProfile:
    return _MetricProfile("temperature_c", (low, high), 0.025, 0.05)


def _vibration(low: float, high: float) -> _MetricProfile:
    return _MetricProfile("vibration_mm_s", (low, high), 0.08, 0.05)


def _pressure(low: float, high: float) -> _MetricProfile:
    return _MetricProfile("pressure_bar", (low, high), 0.03, 0.04)


def _current(low: float, high: float) -> _MetricProfile:
    return _MetricProfile("current_a", (low, high), 0.04, 0.10)


@dataclass(frozen=True, slots=True)
class _EquipmentProfile:
    equipment_type: str
    prefix: str
    count: int  # at scale 1, over all sites
    names: tuple[str, ...]
    areas: tuple[str, ...]
    makers: tuple[tuple[str, tuple[str, ...]], ...]
    purchase_cost: tuple[int, int]
    criticality: _Choice[str]
    tasks: tuple[str, ...]  # preventive plan tasks that make sense for this type
    failure_modes: _Choice[str]  # what typically breaks
    failure_rate: float  # relative frequency of corrective work
    repair_hours: float  # typical labor of a corrective job
    downtime_hours: float  # typical downtime of a failure
    trade: str  # specialty doing its mechanical work
    metrics: tuple[_MetricProfile, ...] = ()


@dataclass(frozen=True, slots=True)
class _FailureProfile:
    mode: str
    titles: tuple[str, ...]
    repair_factor: float
    downtime_factor: float
    part_categories: tuple[str, ...]
    specialty: str  # "trade" means the equipment type's own trade


@dataclass(frozen=True, slots=True)
class _TaskProfile:
    task: str
    title: str
    frequencies: tuple[int, ...]  # days
    hours: tuple[float, float]  # estimated labor range
    downtime: tuple[float, float]  # planned downtime range
    part_categories: tuple[str, ...]
    parts_probability: float
    specialty: str


@dataclass(frozen=True, slots=True)
class _PartTemplate:
    name: str  # may contain {size}
    sizes: tuple[str, ...]
    unit_cost: tuple[float, float]


@dataclass(frozen=True, slots=True)
class _PartCategory:
    category: str
    prefix: str
    count: int  # at scale 1, over all sites
    templates: tuple[_PartTemplate, ...]
    suppliers: tuple[str, ...]
    quantity_per_job: tuple[int, int]
    reorder_point: tuple[int, int]


# The reference tables are hand-aligned data, easier to read and edit unformatted.
# fmt: off
_EQUIPMENT: Final = (
    _EquipmentProfile(
        equipment_type="pump",
        prefix="PMP",
        count=32,
        names=("Cooling water pump", "Boiler feed pump", "Process water pump", "Transfer pump",
               "Condensate pump"),
        areas=("utilities", "production"),
        makers=(
            ("Grundfos", ("CR 32-4", "NB 65-200", "CRN 45-3")),
            ("KSB", ("Etanorm 065-040-250", "Omega 100-250")),
            ("Flowserve", ("Durco Mark 3", "HPX 6x4-13")),
            ("Goulds", ("3196 MTX", "e-SV 33SV")),
            ("Sulzer", ("AHLSTAR A22-80", "SNS 50")),
        ),
        purchase_cost=(4_000, 45_000),
        criticality=_criticality(35, 45, 20),
        tasks=("lubrication", "vibration_analysis", "inspection", "overhaul"),
        failure_modes=_Choice.of(
            ("leak", 30), ("bearing_failure", 25), ("misalignment", 12), ("blockage", 12),
            ("overheating", 6), ("electrical_fault", 6), ("wear", 6), ("sensor_fault", 3),
        ),
        failure_rate=1.3,
        repair_hours=4.0,
        downtime_hours=4.0,
        trade="mechanical",
        metrics=(_temperature(35, 55), _vibration(1.2, 3.0), _pressure(3.0, 7.5)),
    ),
    _EquipmentProfile(
        equipment_type="compressor",
        prefix="CMP",
        count=20,
        names=("Air compressor", "Screw compressor", "Refrigeration compressor", "Instrument air compressor"),
        areas=("utilities",),
        makers=(
            ("Atlas Copco", ("GA 37 VSD+", "GA 75", "ZT 110")),
            ("Ingersoll Rand", ("R55n", "R90i", "UP6-30")),
            ("Kaeser", ("ASD 40", "CSD 105", "BSD 72")),
            ("Sullair", ("LS-110", "4500 Series")),
            ("Gardner Denver", ("L55", "VS45")),
        ),
        purchase_cost=(15_000, 140_000),
        criticality=_criticality(50, 40, 10),
        tasks=("filter_replacement", "lubrication", "vibration_analysis", "overhaul", "belt_replacement"),
        failure_modes=_Choice.of(
            ("overheating", 25), ("leak", 20), ("bearing_failure", 15), ("wear", 12),
            ("electrical_fault", 10), ("sensor_fault", 10), ("blockage", 8),
        ),
        failure_rate=1.3,
        repair_hours=6.0,
        downtime_hours=6.0,
        trade="mechanical",
        metrics=(_temperature(70, 88), _vibration(2.0, 4.0), _pressure(6.5, 9.5)),
    ),
    _EquipmentProfile(
        equipment_type="motor",
        prefix="MTR",
        count=32,
        names=("Main drive motor", "Fan motor", "Agitator motor", "Pump motor", "Conveyor drive motor"),
        areas=("production", "packaging", "utilities"),
        makers=(
            ("Siemens", ("SIMOTICS GP 1LE1 15 kW", "SIMOTICS SD 1LE1 30 kW")),
            ("WEG", ("W22 30 HP", "W22 75 kW")),
            ("ABB", ("M3BP 160", "M3AA 132")),
            ("Baldor", ("Super-E EM4104T", "EM2334T")),
            ("Nidec", ("US Motors HO 50 HP",)),
        ),
        purchase_cost=(1_500, 32_000),
        criticality=_criticality(30, 50, 20),
        tasks=("lubrication", "vibration_analysis", "inspection", "cleaning"),
        failure_modes=_Choice.of(
            ("electrical_fault", 40), ("bearing_failure", 25), ("overheating", 18), ("misalignment", 10),
            ("wear", 5), ("sensor_fault", 3),
        ),
        failure_rate=1.0,
        repair_hours=3.5,
        downtime_hours=5.0,
        trade="mechanical",
        metrics=(_temperature(45, 70), _vibration(0.8, 2.5), _current(12, 160)),
    ),
    _EquipmentProfile(
        equipment_type="conveyor",
        prefix="CNV",
        count=32,
        names=("Packaging conveyor", "Belt conveyor", "Roller conveyor", "Incline conveyor",
               "Palletizer conveyor"),
        areas=("packaging", "production", "warehouse"),
        makers=(
            ("Interroll", ("RollerDrive EC5000", "Crossbelt Sorter")),
            ("Dorner", ("3200 Series", "2200 Series")),
            ("Hytrol", ("E24EZ", "ABEZ")),
            ("FlexLink", ("X85", "XK")),
            ("Intralox", ("Series 900", "ARB 400")),
        ),
        purchase_cost=(8_000, 90_000),
        criticality=_criticality(25, 50, 25),
        tasks=("belt_replacement", "lubrication", "inspection", "cleaning"),
        failure_modes=_Choice.of(
            ("wear", 40), ("misalignment", 22), ("blockage", 15), ("bearing_failure", 12),
            ("electrical_fault", 8), ("sensor_fault", 5),
        ),
        failure_rate=1.6,
        repair_hours=2.5,
        downtime_hours=2.5,
        trade="mechanical",
    ),
    _EquipmentProfile(
        equipment_type="boiler",
        prefix="BLR",
        count=12,
        names=("Steam boiler", "Hot water boiler", "Process steam boiler"),
        areas=("utilities",),
        makers=(
            ("Cleaver-Brooks", ("CBEX Elite 200 HP", "ClearFire-H")),
            ("Bosch", ("UL-S 8000", "UT-L 26")),
            ("Viessmann", ("Vitomax 200-HS", "Vitoplex 300")),
            ("Fulton", ("VSRT-60", "FB-A 150")),
            ("Babcock & Wilcox", ("FM 103-88",)),
        ),
        purchase_cost=(60_000, 420_000),
        criticality=_criticality(70, 25, 5),
        tasks=("inspection", "cleaning", "calibration", "overhaul"),
        failure_modes=_Choice.of(
            ("overheating", 38), ("leak", 20), ("sensor_fault", 15), ("blockage", 12),
            ("electrical_fault", 10), ("wear", 5),
        ),
        failure_rate=0.9,
        repair_hours=8.0,
        downtime_hours=12.0,
        trade="hvac",
        metrics=(_temperature(165, 195), _vibration(0.5, 1.8), _pressure(8.0, 14.0)),
    ),
    _EquipmentProfile(
        equipment_type="chiller",
        prefix="CHL",
        count=12,
        names=("Process chiller", "HVAC chiller", "Glycol chiller"),
        areas=("utilities",),
        makers=(
            ("Carrier", ("AquaEdge 19DV", "AquaSnap 30RB")),
            ("Trane", ("CenTraVac CVHF", "Sintesis RTAF")),
            ("York", ("YK", "YVAA")),
            ("Daikin", ("Magnitude WME", "EWAD-TZ")),
        ),
        purchase_cost=(50_000, 320_000),
        criticality=_criticality(60, 35, 5),
        tasks=("filter_replacement", "cleaning", "inspection", "calibration"),
        failure_modes=_Choice.of(
            ("leak", 25), ("electrical_fault", 20), ("overheating", 15), ("sensor_fault", 15),
            ("blockage", 15), ("bearing_failure", 10),
        ),
        failure_rate=0.9,
        repair_hours=6.0,
        downtime_hours=8.0,
        trade="hvac",
        metrics=(_temperature(5.5, 8.5), _vibration(1.0, 3.0)),
    ),
    _EquipmentProfile(
        equipment_type="generator",
        prefix="GEN",
        count=16,
        names=("Standby generator", "Emergency diesel generator", "Backup genset"),
        areas=("utilities",),
        makers=(
            ("Caterpillar", ("C18 600 kW", "C32 1000 kW")),
            ("Cummins", ("C500 D6", "QSK60")),
            ("Kohler", ("KD800", "KD1250")),
            ("Generac", ("SD500", "MD300")),
            ("MTU", ("12V2000 DS800",)),
        ),
        purchase_cost=(35_000, 280_000),
        criticality=_criticality(65, 30, 5),
        tasks=("inspection", "filter_replacement", "lubrication", "overhaul"),
        failure_modes=_Choice.of(
            ("electrical_fault", 35), ("overheating", 20), ("leak", 15), ("sensor_fault", 10),
            ("wear", 10), ("blockage", 10),
        ),
        failure_rate=0.6,
        repair_hours=5.0,
        downtime_hours=6.0,
        trade="mechanical",
    ),
    _EquipmentProfile(
        equipment_type="cnc_machine",
        prefix="CNC",
        count=30,
        names=("CNC lathe", "CNC machining center", "CNC milling machine", "CNC grinder"),
        areas=("production", "workshop"),
        makers=(
            ("Haas", ("VF-2", "ST-20", "UMC-750")),
            ("DMG Mori", ("NLX 2500", "DMU 50")),
            ("Mazak", ("VCN-530C", "QT-250")),
            ("Okuma", ("GENOS M560-V", "LB3000")),
            ("FANUC", ("Robodrill α-D21MiB",)),
        ),
        purchase_cost=(80_000, 520_000),
        criticality=_criticality(45, 45, 10),
        tasks=("calibration", "lubrication", "cleaning", "inspection"),
        failure_modes=_Choice.of(
            ("electrical_fault", 25), ("sensor_fault", 25), ("misalignment", 20), ("wear", 15),
            ("bearing_failure", 10), ("overheating", 5),
        ),
        failure_rate=1.1,
        repair_hours=5.0,
        downtime_hours=8.0,
        trade="mechanical",
    ),
    _EquipmentProfile(
        equipment_type="press",
        prefix="PRS",
        count=24,
        names=("Hydraulic press", "Stamping press", "Mechanical press", "Press brake"),
        areas=("production", "workshop"),
        makers=(
            ("Schuler", ("MSD 400", "TBA 250")),
            ("AIDA", ("NC1-200", "DSF-N2")),
            ("Amada", ("HFE 100-3", "HG 1303")),
            ("Komatsu", ("OBW 200", "H1F110")),
            ("Bliss", ("C-150",)),
        ),
        purchase_cost=(40_000, 380_000),
        criticality=_criticality(50, 40, 10),
        tasks=("lubrication", "inspection", "calibration", "overhaul"),
        failure_modes=_Choice.of(
            ("leak", 35), ("wear", 20), ("misalignment", 15), ("electrical_fault", 15),
            ("sensor_fault", 10), ("overheating", 5),
        ),
        failure_rate=1.2,
        repair_hours=6.0,
        downtime_hours=10.0,
        trade="mechanical",
    ),
    _EquipmentProfile(
        equipment_type="forklift",
        prefix="FLT",
        count=40,
        names=("Forklift", "Electric forklift", "Reach truck"),
        areas=("warehouse", "warehouse", "packaging"),
        makers=(
            ("Toyota", ("8FGU25", "8FBE20")),
            ("Hyster", ("H50FT", "J2.0XN")),
            ("Crown", ("FC 5200", "RR 5700")),
            ("Linde", ("H25", "E20")),
            ("Yale", ("GLP050", "ERP040")),
        ),
        purchase_cost=(18_000, 65_000),
        criticality=_criticality(5, 40, 55),
        tasks=("inspection", "lubrication", "filter_replacement"),
        failure_modes=_Choice.of(
            ("wear", 30), ("electrical_fault", 25), ("leak", 25), ("overheating", 10),
            ("blockage", 5), ("sensor_fault", 5),
        ),
        failure_rate=1.4,
        repair_hours=2.5,
        downtime_hours=3.0,
        trade="mechanical",
    ),
)


_FAILURES: Final = (
    _FailureProfile(
        "bearing_failure", ("Noisy bearing", "Seized bearing", "Bearing replacement"), 1.4, 1.5,
        ("bearing", "lubricant", "seal"), "trade",
    ),
    _FailureProfile(
        "overheating", ("High temperature alarm", "Overheating", "Thermal trip"), 1.0, 1.2,
        ("lubricant", "filter", "sensor"), "trade",
    ),
    _FailureProfile(
        "leak", ("Leak detected", "Seal leak", "Oil leak"), 0.9, 0.8,
        ("seal", "valve", "lubricant"), "trade",
    ),
    _FailureProfile(
        "electrical_fault", ("Electrical fault", "Breaker tripped", "Will not start"), 1.0, 1.0,
        ("electrical",), "electrical",
    ),
    _FailureProfile(
        "misalignment", ("Shaft misalignment", "Misalignment and vibration", "Belt tracking off"), 0.8, 0.9,
        ("bearing", "belt"), "mechanical",
    ),
    _FailureProfile(
        "wear", ("Excessive wear", "Worn components", "Wear beyond limits"), 1.1, 1.1,
        ("belt", "bearing", "seal"), "mechanical",
    ),
    _FailureProfile(
        "blockage", ("Blockage", "Clogged line", "Jam"), 0.6, 0.7,
        ("filter", "valve"), "trade",
    ),
    _FailureProfile(
        "sensor_fault", ("Faulty sensor reading", "Sensor failure", "Instrument out of range"), 0.5, 0.5,
        ("sensor",), "instrumentation",
    ),
)


_TASKS: Final = (
    _TaskProfile(
        "lubrication", "Lubrication", (60, 90, 90), (0.5, 1.5), (0.0, 0.5),
        ("lubricant",), 0.8, "general",
    ),
    _TaskProfile(
        "filter_replacement", "Filter replacement", (90, 180), (0.75, 2.5), (0.5, 1.5),
        ("filter",), 0.95, "general",
    ),
    _TaskProfile(
        "inspection", "Preventive inspection", (60, 90, 180), (0.5, 2.0), (0.0, 0.5),
        ("sensor",), 0.15, "general",
    ),
    _TaskProfile(
        "calibration", "Calibration", (180, 365), (1.0, 4.0), (0.5, 2.0),
        ("sensor",), 0.25, "instrumentation",
    ),
    _TaskProfile(
        "vibration_analysis", "Vibration analysis", (90, 180), (0.5, 1.5), (0.0, 0.0),
        ("bearing",), 0.05, "instrumentation",
    ),
    _TaskProfile(
        "belt_replacement", "Belt replacement", (180, 365), (1.5, 4.0), (1.5, 4.0),
        ("belt",), 1.0, "mechanical",
    ),
    _TaskProfile(
        "cleaning", "Cleaning", (60, 90), (1.0, 4.0), (0.5, 3.0),
        ("filter",), 0.3, "general",
    ),
    _TaskProfile(
        "overhaul", "Overhaul", (365, 730), (12.0, 40.0), (16.0, 60.0),
        ("bearing", "seal", "lubricant", "valve"), 1.0, "trade",
    ),
)


_PARTS: Final = (
    # Bearings are named by their designation (see _bearing_catalogue), hence no templates.
    _PartCategory("bearing", "BRG", 50, (), ("SKF", "Schaeffler (FAG)", "NSK", "Timken", "NTN"),
                  (1, 2), (2, 8)),
    _PartCategory("filter", "FLT", 45, (
        _PartTemplate("Hydraulic return filter element {size}", ("10 µm", "25 µm"), (45, 160)),
        _PartTemplate("Compressor air intake filter {size}", ("AF-37", "AF-75"), (35, 140)),
        _PartTemplate("Air/oil separator element", ("",), (120, 420)),
        _PartTemplate("Oil filter cartridge {size}", ("M20", "M28"), (18, 70)),
        _PartTemplate("Pleated HVAC filter {size}", ("24x24x2 in", "20x25x4 in"), (9, 30)),
        _PartTemplate("Fuel filter element", ("",), (15, 60)),
    ), ("Parker", "Donaldson", "Mann+Hummel", "Camfil"), (1, 4), (4, 16)),
    _PartCategory("belt", "BLT", 35, (
        _PartTemplate("Classic V-belt {size}", ("A48", "B62", "B75", "C90"), (12, 45)),
        _PartTemplate("Wedge belt {size}", ("SPA 1250", "SPB 2000", "XPZ 1000"), (15, 60)),
        _PartTemplate("Timing belt {size}", ("8M-1200-30", "5M-800-25"), (40, 150)),
        _PartTemplate("Conveyor belt section {size}", ("600 mm x 10 m", "800 mm x 10 m"), (380, 1400)),
        _PartTemplate("Modular plastic belt module {size}", ("Series 900", "Series 1100"), (60, 220)),
    ), ("Gates", "Optibelt", "ContiTech", "Habasit"), (1, 4), (2, 10)),
    _PartCategory("seal", "SEL", 35, (
        _PartTemplate("Mechanical seal {size}", ("35 mm", "45 mm", "55 mm"), (180, 900)),
        _PartTemplate("Radial shaft seal {size}", ("45x62x8", "60x80x10"), (8, 35)),
        _PartTemplate("O-ring kit {size}", ("NBR", "Viton"), (20, 90)),
        _PartTemplate("Hydraulic cylinder seal kit {size}", ("63 mm", "100 mm"), (60, 260)),
        _PartTemplate("Gland packing PTFE {size}", ("10 mm", "12 mm"), (30, 110)),
    ), ("John Crane", "Garlock", "Trelleborg", "EagleBurgmann"), (1, 2), (2, 8)),
    _PartCategory("lubricant", "LUB", 30, (
        _PartTemplate("Lithium grease EP2 {size}", ("400 g", "18 kg"), (8, 160)),
        _PartTemplate("Hydraulic oil ISO VG 46 {size}", ("20 L", "208 L"), (90, 900)),
        _PartTemplate("Gear oil ISO VG 220 {size}", ("20 L",), (110, 260)),
        _PartTemplate("Compressor oil ISO VG 68 {size}", ("20 L",), (140, 320)),
        _PartTemplate("Food-grade grease H1 {size}", ("400 g",), (15, 40)),
    ), ("Shell", "Mobil", "Castrol", "Klüber"), (1, 4), (4, 20)),
    _PartCategory("electrical", "ELC", 45, (
        _PartTemplate("Contactor 3P {size}", ("25 A", "40 A", "65 A"), (45, 260)),
        _PartTemplate("Thermal overload relay {size}", ("9-13 A", "23-32 A"), (35, 120)),
        _PartTemplate("Fuse gG {size}", ("32 A", "63 A"), (4, 18)),
        _PartTemplate("Circuit breaker 3P {size}", ("40 A", "100 A"), (80, 420)),
        _PartTemplate("VFD cooling fan {size}", ("120 mm", "172 mm"), (40, 160)),
        _PartTemplate("Control relay 24 VDC {size}", ("2CO", "4CO"), (12, 45)),
    ), ("Schneider Electric", "Siemens", "ABB", "Eaton"), (1, 3), (2, 12)),
    _PartCategory("sensor", "SNS", 30, (
        _PartTemplate("PT100 temperature sensor {size}", ("100 mm", "200 mm"), (60, 220)),
        _PartTemplate("Vibration accelerometer {size}", ("100 mV/g",), (180, 650)),
        _PartTemplate("Pressure transmitter {size}", ("0-16 bar", "0-25 bar"), (220, 780)),
        _PartTemplate("Inductive proximity sensor {size}", ("M12", "M18"), (35, 120)),
        _PartTemplate("Current transformer {size}", ("100/5 A", "200/5 A"), (40, 140)),
    ), ("Endress+Hauser", "ifm", "Emerson", "WIKA"), (1, 1), (1, 5)),
    _PartCategory("valve", "VLV", 30, (
        _PartTemplate("Ball valve {size}", ("DN25", "DN50"), (45, 380)),
        _PartTemplate("Check valve {size}", ("DN50", "DN80"), (90, 520)),
        _PartTemplate("Solenoid valve 24 VDC {size}", ("1/2 in", "1 in"), (70, 260)),
        _PartTemplate("Pressure relief valve {size}", ("10 bar", "16 bar"), (120, 650)),
        _PartTemplate("Steam trap {size}", ("DN15", "DN25"), (110, 420)),
    ), ("Swagelok", "Spirax Sarco", "Danfoss", "Emerson"), (1, 1), (1, 6)),
)

_FAILURE_BY_MODE: Final = MappingProxyType({failure.mode: failure for failure in _FAILURES})

_BEARING_FAMILIES: Final = (
    ("60", "Deep groove ball bearing"),
    ("62", "Deep groove ball bearing"),
    ("63", "Deep groove ball bearing"),
    ("64", "Deep groove ball bearing"),
    ("12", "Self-aligning ball bearing"),
    ("13", "Self-aligning ball bearing"),
    ("22", "Self-aligning ball bearing"),
    ("23", "Self-aligning ball bearing"),
    ("72", "Angular contact ball bearing"),
    ("73", "Angular contact ball bearing"),
    ("32", "Double row angular contact bearing"),
    ("33", "Double row angular contact bearing"),
)
_BEARING_VARIANTS: Final = ("", "-2RS", "-2Z", "-C3")

# Spanish names for the Latin American and Spanish plants, a mix for Houston.
_FIRST_NAMES_ES: Final = (
    "Laura", "Carlos", "María", "José", "Ana", "Luis", "Sofía", "Miguel", "Lucía", "Javier", "Valentina",
    "Diego", "Camila", "Andrés", "Paula", "Juan", "Daniela", "Fernando", "Gabriela", "Ricardo", "Elena",
    "Alejandro", "Isabel", "Raúl", "Carmen", "Pablo", "Mariana", "Sergio", "Adriana", "Jorge",
)
_SURNAMES_ES: Final = (
    "Gómez", "Hernández", "Martínez", "López", "García", "Rodríguez", "Pérez", "Sánchez", "Ramírez", "Torres",
    "Flores", "Rivera", "Morales", "Ortiz", "Castillo", "Jiménez", "Vargas", "Romero", "Herrera", "Medina",
    "Castro", "Ruiz", "Navarro", "Silva", "Mendoza", "Guerrero", "Rojas", "Delgado", "Vega", "Cruz",
)
_FIRST_NAMES_EN: Final = (
    "James", "Emily", "Michael", "Sarah", "Robert", "Jessica", "David", "Ashley", "William", "Megan",
    "John", "Rachel", "Kevin", "Laura", "Brian", "Nicole", "Daniel", "Amanda", "Carlos", "María",
)
_SURNAMES_EN: Final = (
    "Johnson", "Smith", "Williams", "Brown", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Thomas",
    "Moore", "Jackson", "Garcia", "Martinez", "Lee", "Clark", "Lewis", "Walker", "Hall", "Young",
)
# fmt: on

_SPECIALTIES: Final = (
    ("mechanical", 13),
    ("electrical", 10),
    ("instrumentation", 5),
    ("hvac", 5),
    ("general", 7),
)
_SPECIALTY_RATE: Final = MappingProxyType(
    {
        "mechanical": 1.0,
        "electrical": 1.12,
        "instrumentation": 1.18,
        "hvac": 1.1,
        "general": 0.88,
    }
)
_SHIFTS: Final = _Choice.of(("morning", 50), ("afternoon", 30), ("night", 20))
_CORRECTIVE_PRIORITY: Final = MappingProxyType(
    {
        "high": _Choice.of(("critical", 25), ("high", 40), ("medium", 25), ("low", 10)),
        "medium": _Choice.of(("critical", 8), ("high", 30), ("medium", 42), ("low", 20)),
        "low": _Choice.of(("critical", 2), ("high", 12), ("medium", 41), ("low", 45)),
    }
)
_PREVENTIVE_PRIORITY: Final = MappingProxyType(
    {
        "high": _Choice.of(("low", 35), ("medium", 50), ("high", 30)),
        "medium": _Choice.of(("low", 35), ("medium", 50), ("high", 15)),
        "low": _Choice.of(("low", 35), ("medium", 50), ("high", 5)),
    }
)
_PREDICTIVE_PRIORITY: Final = _Choice.of(("critical", 5), ("high", 35), ("medium", 50), ("low", 10))
_INSPECTION_PRIORITY: Final = _Choice.of(("low", 55), ("medium", 40), ("high", 5))
_BREAKDOWN_PRIORITY: Final = _Choice.of(("critical", 70), ("high", 30))
_OVERDUE_PREVENTIVE_STATUS: Final = _Choice.of(("open", 55), ("in_progress", 25), ("on_hold", 20))
_UPCOMING_PREVENTIVE_STATUS: Final = _Choice.of(("open", 85), ("in_progress", 15))
_TREND_STATUS: Final = _Choice.of(("open", 60), ("in_progress", 40))
# How many distinct spare parts a finished job used.
_CORRECTIVE_PART_COUNT: Final = _Choice.of((0, 5), (1, 15), (2, 25), (3, 30), (4, 25))
_PREDICTIVE_PART_COUNT: Final = _Choice.of((0, 30), (1, 35), (2, 25), (3, 10))
_INSPECTION_PART_COUNT: Final = _Choice.of((0, 70), (1, 25), (2, 5))
_DUE_DAYS: Final = MappingProxyType({"critical": 1, "high": 3, "medium": 7, "low": 21})
# Hours from creation to start of work, and the chance and mean length (days) of sitting in the backlog.
_RESPONSE_HOURS: Final = MappingProxyType({"critical": 1.0, "high": 4.0, "medium": 20.0, "low": 48.0})
_BACKLOG_WAIT: Final = MappingProxyType(
    {
        "critical": (0.0, 0.0),
        "high": (0.06, 3.0),
        "medium": (0.4, 25.0),
        "low": (0.6, 90.0),
    }
)


# --------------------------------------------------------------------------------------------------
# Public result
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoRows:
    """The generated rows, one list of column → value dicts per table, in foreign-key insert order."""

    sites: list[Row]
    equipment: list[Row]
    technicians: list[Row]
    maintenance_plans: list[Row]
    spare_parts: list[Row]
    work_orders: list[Row]
    work_order_parts: list[Row]
    sensor_readings: list[Row]

    def by_table(self) -> dict[str, list[Row]]:
        """Return the rows keyed by table name, parents before children."""
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def counts(self) -> dict[str, int]:
        """Return the number of rows per table."""
        return {table: len(rows) for table, rows in self.by_table().items()}


# --------------------------------------------------------------------------------------------------
# Internal entities
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Clock:
    as_of: datetime.date
    cutoff: datetime.datetime  # the as-of date's midnight: every event is strictly before it
    start: datetime.datetime  # start of the work order history

    @classmethod
    def for_day(cls, as_of: datetime.date) -> "_Clock":
        cutoff = datetime.datetime.combine(as_of, datetime.time())
        return cls(as_of, cutoff, cutoff - datetime.timedelta(days=_HISTORY_DAYS))


@dataclass(slots=True)
class _Asset:
    id: int
    tag: str
    name: str
    profile: _EquipmentProfile
    site: int  # index into _SITES (site id - 1)
    manufacturer: str
    model: str
    area: str
    criticality: str
    install_date: datetime.date
    purchase_cost: float
    status: str = "operational"
    decommissioned_on: datetime.date | None = None
    guaranteed: bool = False  # first of its type at its site: keeps the site's coverage of every type

    def active_window(self, clock: _Clock) -> tuple[datetime.datetime, datetime.datetime]:
        """When the asset can receive work orders: from install (or history start) to decommissioning."""
        begin = max(clock.start, datetime.datetime.combine(self.install_date, datetime.time()))
        if self.decommissioned_on is None:
            return begin, clock.cutoff
        retired = datetime.datetime.combine(self.decommissioned_on, datetime.time())
        # Nothing new was raised in the last month before an asset was taken out.
        return begin, retired - datetime.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class _Technician:
    id: int
    name: str
    specialty: str
    shift: str
    site: int
    hourly_rate: float
    left_on: datetime.date | None  # None while active


@dataclass(frozen=True, slots=True)
class _Part:
    id: int
    part_number: str
    name: str
    category: _PartCategory
    site: int
    quantity_on_hand: int
    reorder_point: int
    unit_cost: float
    supplier: str


@dataclass(slots=True)
class _Plan:
    id: int
    asset: _Asset
    task: _TaskProfile
    frequency_days: int
    estimated_hours: float
    active: bool
    next_due: datetime.date
    last_performed: datetime.date | None


@dataclass(slots=True)
class _Order:
    asset: _Asset
    type: str
    priority: str
    title: str
    created_at: datetime.datetime
    due_date: datetime.date
    specialty: str
    status: str = "open"
    plan_id: int | None = None
    failure_mode: str | None = None
    started_at: datetime.datetime | None = None
    completed_at: datetime.datetime | None = None
    labor_hours: float | None = None
    downtime_hours: float | None = None
    parts: tuple[tuple[_Part, int], ...] = ()
    technician: _Technician | None = None


@dataclass(frozen=True, slots=True)
class _Stock:
    """Spare parts and technicians indexed the way work orders look them up."""

    parts: dict[tuple[int, str], list[_Part]]  # (site, category) → parts
    technicians: dict[tuple[int, str], list[_Technician]]  # (site, specialty) → technicians
    by_site: dict[int, list[_Technician]]
    everyone: list[_Technician]


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _stream(seed: int, name: str) -> random.Random:
    # One independent stream per generation step, so a change to one table does not reshuffle the others;
    # string seeds are hashed with SHA-512 by random.Random, not with the randomised hash().
    return random.Random(f"maintbot-demo:{seed}:{name}")


def _quarter(value: float, minimum: float = 0.25) -> float:
    return max(minimum, round(value * 4) / 4)


def _hours(hours: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=round(hours * 3600))


def _moment(rng: random.Random, begin: datetime.datetime, end: datetime.datetime) -> datetime.datetime:
    span = int((end - begin).total_seconds())
    return begin + datetime.timedelta(seconds=rng.randrange(max(span, 1)))


def _scaled(count: int, scale: float, minimum: int = 1) -> int:
    return max(minimum, round(count * scale))


def _spread_over_sites(rng: random.Random, count: int) -> list[int]:
    """Site index of each of `count` items: one per site first (every site has one), the rest by site size."""
    first = (
        list(range(len(_SITES))) if count >= len(_SITES) else sorted(rng.sample(range(len(_SITES)), count))
    )
    rest = rng.choices(range(len(_SITES)), weights=[site.size for site in _SITES], k=count - len(first))
    return first + sorted(rest)


def _share(total: int, fraction: float, minimum: int = 0) -> int:
    return max(minimum, round(total * fraction))


def _pick_exact(rng: random.Random, candidates: Sequence[int], count: int) -> set[int]:
    """Exactly `count` random candidates (or all of them), so proportions do not drift with the seed."""
    return set(rng.sample(list(candidates), min(count, len(candidates))))


# --------------------------------------------------------------------------------------------------
# Sites, equipment, technicians, spare parts
# --------------------------------------------------------------------------------------------------


def _site_rows() -> list[Row]:
    return [
        {"id": index + 1, "code": site.code, "name": site.name, "city": site.city, "country": site.country}
        for index, site in enumerate(_SITES)
    ]


def _make_assets(rng: random.Random, clock: _Clock, scale: float) -> list[_Asset]:
    assets: list[_Asset] = []
    for profile in _EQUIPMENT:
        name_counts: dict[tuple[int, str], int] = {}
        sites = _spread_over_sites(rng, _scaled(profile.count, scale))
        for number, site in enumerate(sites, start=1):
            base_name = rng.choice(profile.names)
            name_counts[site, base_name] = name_counts.get((site, base_name), 0) + 1
            manufacturer, models = rng.choice(profile.makers)
            low, high = profile.purchase_cost
            assets.append(
                _Asset(
                    id=len(assets) + 1,
                    tag=f"{profile.prefix}-{number:04d}",
                    name=f"{base_name} {name_counts[site, base_name]}",
                    profile=profile,
                    site=site,
                    manufacturer=manufacturer,
                    model=rng.choice(models),
                    area=rng.choice(profile.areas),
                    criticality=profile.criticality.pick(rng),
                    install_date=_install_date(rng, clock),
                    purchase_cost=float(round(rng.uniform(low, high), -2)),
                    guaranteed=number <= len(_SITES),
                )
            )
    _assign_equipment_status(rng, clock, assets)
    return assets


def _install_date(rng: random.Random, clock: _Clock) -> datetime.date:
    # Most of the fleet is years old; about one asset in eight was installed during the history window.
    if rng.random() < 0.12:
        return clock.as_of - datetime.timedelta(days=rng.randint(60, _HISTORY_DAYS - 30))
    return clock.as_of - datetime.timedelta(days=rng.randint(3 * 365, 22 * 365))


def _assign_equipment_status(rng: random.Random, clock: _Clock, assets: list[_Asset]) -> None:
    optional = [asset.id for asset in assets if not asset.guaranteed]
    retired = _pick_exact(rng, optional, _share(len(assets), 0.05, minimum=1))
    remaining = [asset.id for asset in assets if asset.id not in retired]
    down = _pick_exact(rng, remaining, _share(len(assets), 0.03, minimum=1))
    in_repair = _pick_exact(
        rng, [index for index in remaining if index not in down], _share(len(assets), 0.05, minimum=1)
    )
    for asset in assets:
        if asset.id in retired:
            asset.status = "decommissioned"
            asset.install_date = clock.as_of - datetime.timedelta(days=rng.randint(12 * 365, 28 * 365))
            asset.decommissioned_on = clock.as_of - datetime.timedelta(days=rng.randint(60, 900))
        elif asset.id in down:
            asset.status = "out_of_service"
        elif asset.id in in_repair:
            asset.status = "under_maintenance"


def _equipment_rows(assets: Sequence[_Asset]) -> list[Row]:
    return [
        {
            "id": asset.id,
            "tag": asset.tag,
            "name": asset.name,
            "equipment_type": asset.profile.equipment_type,
            "manufacturer": asset.manufacturer,
            "model": asset.model,
            "site_id": asset.site + 1,
            "area": asset.area,
            "criticality": asset.criticality,
            "status": asset.status,
            "install_date": asset.install_date,
            "purchase_cost": asset.purchase_cost,
        }
        for asset in assets
    ]


def _make_technicians(rng: random.Random, clock: _Clock, scale: float) -> list[_Technician]:
    slots = [
        (specialty, site, number <= len(_SITES))
        for specialty, count in _SPECIALTIES
        for number, site in enumerate(_spread_over_sites(rng, _scaled(count, scale)), start=1)
    ]
    optional = [index for index, slot in enumerate(slots) if not slot[2]]
    leavers = _pick_exact(rng, optional, _share(len(slots), 0.10, minimum=1))
    taken: set[str] = set()
    technicians: list[_Technician] = []
    for index, (specialty, site, _) in enumerate(slots):
        low, high = _SITES[site].hourly_rate
        left_on = clock.as_of - datetime.timedelta(days=rng.randint(30, 900)) if index in leavers else None
        technicians.append(
            _Technician(
                id=index + 1,
                name=_unique_person_name(rng, _SITES[site].english_names, taken),
                specialty=specialty,
                shift=_SHIFTS.pick(rng),
                site=site,
                hourly_rate=_quarter(rng.uniform(low, high) * _SPECIALTY_RATE[specialty]),
                left_on=left_on,
            )
        )
    return technicians


def _unique_person_name(rng: random.Random, english: bool, taken: set[str]) -> str:
    first_names, surnames = (_FIRST_NAMES_EN, _SURNAMES_EN) if english else (_FIRST_NAMES_ES, _SURNAMES_ES)
    while True:
        first, surname = rng.choice(first_names), rng.choice(surnames)
        if english:
            # A middle initial for some, which also keeps names unique in large demo databases.
            middle = f" {chr(ord('A') + rng.randrange(26))}." if rng.random() < 0.3 else ""
            candidate = f"{first}{middle} {surname}"
        else:
            # Two surnames for some, as is common in Spanish-speaking countries.
            candidate = (
                f"{first} {surname}" if rng.random() < 0.6 else f"{first} {surname} {rng.choice(surnames)}"
            )
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _technician_rows(technicians: Sequence[_Technician]) -> list[Row]:
    return [
        {
            "id": tech.id,
            "name": tech.name,
            "specialty": tech.specialty,
            "shift": tech.shift,
            "site_id": tech.site + 1,
            "hourly_rate": tech.hourly_rate,
            "active": tech.left_on is None,
        }
        for tech in technicians
    ]


def _bearing_catalogue() -> list[tuple[str, str]]:
    """(designation, name) of every bearing; plain designations first, then sealed and C3 variants."""
    return [
        (f"{series}{bore:02d}{variant}", f"{family} {series}{bore:02d}{variant}")
        for variant in _BEARING_VARIANTS
        for series, family in _BEARING_FAMILIES
        for bore in range(45)
    ]


def _part_items(rng: random.Random, category: _PartCategory, count: int) -> list[tuple[str, str, float]]:
    """(part number, name, unit cost) of `count` distinct parts of one category."""
    if not category.templates:
        catalogue = _bearing_catalogue()
        plain = [item for item in catalogue if item[0].isdigit()]
        chosen = rng.sample(plain, count) if count <= len(plain) else catalogue[:count]
        return [
            (f"{category.prefix}-{code}", name, _quarter(rng.uniform(8, 40) * (1 + int(code[2:4]) / 12)))
            for code, name in chosen
        ]
    codes = rng.sample(range(1000, 10_000), count)
    items = []
    for code in codes:
        template = rng.choice(category.templates)
        name = template.name.format(size=rng.choice(template.sizes)).strip()
        items.append((f"{category.prefix}-{code}", name, _quarter(rng.uniform(*template.unit_cost))))
    return items


def _make_spare_parts(rng: random.Random, scale: float) -> list[_Part]:
    parts: list[_Part] = []
    for category in _PARTS:
        count = _scaled(category.count, scale)
        sites = _spread_over_sites(rng, count)
        for site, (part_number, name, unit_cost) in zip(
            sites, _part_items(rng, category, count), strict=True
        ):
            reorder_point = rng.randint(*category.reorder_point)
            parts.append(
                _Part(
                    id=len(parts) + 1,
                    part_number=part_number,
                    name=name,
                    category=category,
                    site=site,
                    quantity_on_hand=reorder_point + rng.randint(1, 3 * reorder_point + 5),
                    reorder_point=reorder_point,
                    unit_cost=unit_cost,
                    supplier=rng.choice(category.suppliers),
                )
            )
    # Between 9 % and 15 % of the stock lines are at or below their reorder point.
    low_stock = _pick_exact(rng, range(len(parts)), _share(len(parts), rng.uniform(0.09, 0.15), minimum=1))
    for index in sorted(low_stock):
        part = parts[index]
        parts[index] = replace(part, quantity_on_hand=rng.randint(0, part.reorder_point))
    return parts


def _spare_part_rows(parts: Sequence[_Part]) -> list[Row]:
    return [
        {
            "id": part.id,
            "part_number": part.part_number,
            "name": part.name,
            "category": part.category.category,
            "site_id": part.site + 1,
            "quantity_on_hand": part.quantity_on_hand,
            "reorder_point": part.reorder_point,
            "unit_cost": part.unit_cost,
            "supplier": part.supplier,
        }
        for part in parts
    ]


def _index_stock(parts: Sequence[_Part], technicians: Sequence[_Technician]) -> _Stock:
    by_category: dict[tuple[int, str], list[_Part]] = {}
    for part in parts:
        by_category.setdefault((part.site, part.category.category), []).append(part)
    by_specialty: dict[tuple[int, str], list[_Technician]] = {}
    by_site: dict[int, list[_Technician]] = {}
    for tech in technicians:
        by_specialty.setdefault((tech.site, tech.specialty), []).append(tech)
        by_site.setdefault(tech.site, []).append(tech)
    return _Stock(by_category, by_specialty, by_site, list(technicians))


# --------------------------------------------------------------------------------------------------
# Maintenance plans
# --------------------------------------------------------------------------------------------------


def _make_plans(rng: random.Random, clock: _Clock, assets: Sequence[_Asset]) -> list[_Plan]:
    tasks = {task.task: task for task in _TASKS}
    plans: list[_Plan] = []
    for asset in assets:
        count = 1 + (rng.random() < 0.6)
        for task_name in rng.sample(asset.profile.tasks, count):
            task = tasks[task_name]
            frequency = rng.choice(task.frequencies)
            hours = _quarter(rng.uniform(*task.hours))
            plans.append(_Plan(len(plans) + 1, asset, task, frequency, hours, True, clock.as_of, None))
    live = [plan.id for plan in plans if plan.asset.decommissioned_on is None]
    retired = _pick_exact(rng, live, _share(len(live), 0.04))
    active = [plan_id for plan_id in live if plan_id not in retired]
    overdue = _pick_exact(rng, active, _share(len(active), rng.uniform(0.15, 0.23), minimum=1))
    for plan in plans:
        if plan.asset.decommissioned_on is not None:
            plan.active = False
            _schedule_stopped_plan(rng, clock, plan, plan.asset.decommissioned_on - datetime.timedelta(1))
        elif plan.id in retired:
            plan.active = False
            _schedule_stopped_plan(rng, clock, plan, clock.as_of - datetime.timedelta(rng.randint(120, 700)))
        else:
            _schedule_active_plan(rng, clock, plan, overdue=plan.id in overdue)
    return plans


def _first_possible_execution(clock: _Clock, plan: _Plan) -> datetime.date:
    # Every execution has its completed work order, raised two weeks ahead inside the order history.
    return plan.asset.active_window(clock)[0].date() + datetime.timedelta(25)


def _schedule_stopped_plan(rng: random.Random, clock: _Clock, plan: _Plan, stopped_on: datetime.date) -> None:
    last = max(
        stopped_on - datetime.timedelta(rng.randint(0, plan.frequency_days - 1)),
        _first_possible_execution(clock, plan),
    )
    if last > stopped_on:
        plan.last_performed = None
        plan.next_due = plan.asset.active_window(clock)[0].date() + datetime.timedelta(plan.frequency_days)
    else:
        plan.last_performed, plan.next_due = last, last + datetime.timedelta(plan.frequency_days)


def _schedule_active_plan(rng: random.Random, clock: _Clock, plan: _Plan, *, overdue: bool) -> None:
    if overdue:
        plan.next_due = clock.as_of - datetime.timedelta(rng.randint(1, min(plan.frequency_days, 60)))
    else:
        plan.next_due = clock.as_of + datetime.timedelta(rng.randint(0, plan.frequency_days - 1))
    last = plan.next_due - datetime.timedelta(plan.frequency_days)
    # A few plans are new; so is any plan on equipment installed after its last cycle would have run.
    performed = last >= _first_possible_execution(clock, plan) and rng.random() > 0.03
    plan.last_performed = last if performed else None


def _plan_rows(plans: Sequence[_Plan]) -> list[Row]:
    return [
        {
            "id": plan.id,
            "equipment_id": plan.asset.id,
            "task": plan.task.task,
            "frequency_days": plan.frequency_days,
            "last_performed": plan.last_performed,
            "next_due": plan.next_due,
            "estimated_hours": plan.estimated_hours,
            "active": plan.active,
        }
        for plan in plans
    ]


# --------------------------------------------------------------------------------------------------
# Work orders
# --------------------------------------------------------------------------------------------------


def _pick_parts(
    rng: random.Random, stock: _Stock, site: int, categories: Sequence[str], count: int
) -> tuple[tuple[_Part, int], ...]:
    """Distinct parts of the asset's own site (each at most once per order: the table's primary key)."""
    chosen: dict[int, tuple[_Part, int]] = {}
    for _ in range(count):
        pool = stock.parts.get((site, rng.choice(categories)))
        if pool:
            part = rng.choice(pool)
            chosen.setdefault(part.id, (part, rng.randint(*part.category.quantity_per_job)))
    return tuple(chosen.values())


def _specialty(asset: _Asset, wanted: str) -> str:
    return asset.profile.trade if wanted == "trade" else wanted


def _preventive_order(
    rng: random.Random, plan: _Plan, created: datetime.datetime, due: datetime.date
) -> _Order:
    return _Order(
        asset=plan.asset,
        type="preventive",
        priority=_PREVENTIVE_PRIORITY[plan.asset.criticality].pick(rng),
        title=f"{plan.task.title} - {plan.asset.name}",
        created_at=created,
        due_date=due,
        specialty=_specialty(plan.asset, plan.task.specialty),
        plan_id=plan.id,
    )


def _complete_preventive(
    rng: random.Random, order: _Order, plan: _Plan, done_on: datetime.date, stock: _Stock
) -> None:
    labor = _quarter(plan.estimated_hours * rng.uniform(0.8, 1.3))
    # The job ends on `done_on` (which becomes the plan's last_performed), during the day shift or evening.
    completed = datetime.datetime.combine(done_on, datetime.time(10)) + _hours(rng.uniform(0, 11))
    started = completed - _hours(labor * rng.uniform(1.0, 1.3))
    order.status, order.started_at, order.completed_at = "completed", started, completed
    order.created_at = min(order.created_at, started - datetime.timedelta(hours=1))
    order.labor_hours = labor
    order.downtime_hours = _quarter(rng.uniform(*plan.task.downtime), minimum=0.0)
    if rng.random() < plan.task.parts_probability:
        categories = plan.task.part_categories
        count = rng.randint(3, 6) if len(categories) > 1 else rng.randint(1, 3)
        order.parts = _pick_parts(rng, stock, plan.asset.site, categories, count)


def _plan_history(rng: random.Random, clock: _Clock, plan: _Plan, stock: _Stock) -> list[_Order]:
    """The plan's past preventive orders, walking back one cycle at a time from its last execution."""
    if plan.last_performed is None:
        return []
    begin = plan.asset.active_window(clock)[0] + datetime.timedelta(days=5)
    orders: list[_Order] = []
    done_on = plan.last_performed
    while True:
        # Usually done a few days before it falls due, sometimes a little late.
        due = done_on + datetime.timedelta(rng.randint(-2, 6))
        created = _batch_time(rng, due - datetime.timedelta(14))
        if created < begin:
            return orders
        order = _preventive_order(rng, plan, created, due)
        if orders and rng.random() < 0.03:
            order.status = "cancelled"
        else:
            _complete_preventive(rng, order, plan, done_on, stock)
        orders.append(order)
        done_on -= datetime.timedelta(plan.frequency_days + rng.randint(-5, 5))


def _batch_time(rng: random.Random, day: datetime.date) -> datetime.datetime:
    # Preventive orders are raised two weeks ahead by the nightly CMMS batch.
    return datetime.datetime.combine(day, datetime.time(2)) + datetime.timedelta(seconds=rng.randrange(3600))


def _current_preventive(rng: random.Random, clock: _Clock, plan: _Plan) -> _Order | None:
    """The order for the plan's next due date, if already raised (due within 14 days or overdue)."""
    created_day = max(plan.next_due - datetime.timedelta(14), plan.asset.install_date + datetime.timedelta(1))
    if created_day >= clock.as_of:
        return None
    order = _preventive_order(rng, plan, _batch_time(rng, created_day), plan.next_due)
    if plan.next_due < clock.as_of:
        order.status = _OVERDUE_PREVENTIVE_STATUS.pick(rng)
    else:
        order.status = _UPCOMING_PREVENTIVE_STATUS.pick(rng)
    if order.status != "open":
        order.started_at = _moment(rng, order.created_at, clock.cutoff)
    return order


def _preventive_orders(
    rng: random.Random, clock: _Clock, plans: Sequence[_Plan], stock: _Stock
) -> list[_Order]:
    orders: list[_Order] = []
    for plan in plans:
        orders.extend(_plan_history(rng, clock, plan, stock))
        current = _current_preventive(rng, clock, plan) if plan.active else None
        if current is not None:
            orders.append(current)
    return orders


_PREDICTIVE_TITLES: Final = (
    "High vibration trend",
    "Thermography hot spot",
    "Oil analysis: high particle count",
    "Ultrasound survey finding",
    "Performance trend deviation",
)
_INSPECTION_TITLES: Final = (
    "Routine inspection",
    "Safety inspection",
    "Operator-reported noise check",
    "Insurance inspection",
    "Walk-down inspection",
)


@dataclass(frozen=True, slots=True)
class _Job:
    """What an unplanned order would take once done: labor, downtime and parts."""

    labor_hours: float
    downtime_hours: float
    parts: tuple[tuple[_Part, int], ...]


def _failure(rng: random.Random, asset: _Asset) -> _FailureProfile:
    return _FAILURE_BY_MODE[asset.profile.failure_modes.pick(rng)]


def _corrective(
    rng: random.Random, asset: _Asset, created: datetime.datetime, stock: _Stock
) -> tuple[_Order, _Job]:
    failure = _failure(rng, asset)
    priority = _CORRECTIVE_PRIORITY[asset.criticality].pick(rng)
    order = _Order(
        asset=asset,
        type="corrective",
        priority=priority,
        title=f"{rng.choice(failure.titles)} - {asset.name}",
        created_at=created,
        due_date=created.date() + datetime.timedelta(_DUE_DAYS[priority]),
        specialty=_specialty(asset, failure.specialty),
        failure_mode=failure.mode,
    )
    labor = _quarter(
        min(60.0, asset.profile.repair_hours * failure.repair_factor * rng.lognormvariate(0, 0.45))
    )
    urgency = 1.3 if priority == "critical" else 1.0
    downtime = asset.profile.downtime_hours * failure.downtime_factor * urgency * rng.lognormvariate(0, 0.6)
    # Bigger repairs (boilers, presses) consume more parts than quick ones (conveyors, forklifts).
    count = round(_CORRECTIVE_PART_COUNT.pick(rng) * asset.profile.repair_hours / 4.5)
    parts = _pick_parts(rng, stock, asset.site, failure.part_categories, count)
    return order, _Job(labor, _quarter(downtime), parts)


def _predictive(
    rng: random.Random, asset: _Asset, created: datetime.datetime, stock: _Stock
) -> tuple[_Order, _Job]:
    priority = _PREDICTIVE_PRIORITY.pick(rng)
    order = _Order(
        asset=asset,
        type="predictive",
        priority=priority,
        title=f"{rng.choice(_PREDICTIVE_TITLES)} - {asset.name}",
        created_at=created,
        due_date=created.date() + datetime.timedelta(14),
        specialty="instrumentation" if rng.random() < 0.4 else asset.profile.trade,
    )
    count = _PREDICTIVE_PART_COUNT.pick(rng)
    parts = _pick_parts(rng, stock, asset.site, _failure(rng, asset).part_categories, count)
    job = _Job(_quarter(rng.uniform(1, 6)), _quarter(rng.uniform(0, 3), minimum=0.0), parts)
    return order, job


def _inspection(
    rng: random.Random, asset: _Asset, created: datetime.datetime, stock: _Stock
) -> tuple[_Order, _Job]:
    priority = _INSPECTION_PRIORITY.pick(rng)
    order = _Order(
        asset=asset,
        type="inspection",
        priority=priority,
        title=f"{rng.choice(_INSPECTION_TITLES)} - {asset.name}",
        created_at=created,
        due_date=created.date() + datetime.timedelta(14),
        specialty="general",
    )
    count = _INSPECTION_PART_COUNT.pick(rng)
    parts = _pick_parts(rng, stock, asset.site, _failure(rng, asset).part_categories, count)
    return order, _Job(_quarter(rng.uniform(0.5, 3)), _quarter(rng.uniform(0, 0.5), minimum=0.0), parts)


_UNPLANNED_KINDS: Final = (
    ("corrective", 0.58, _corrective),
    ("predictive", 0.17, _predictive),
    ("inspection", 0.25, _inspection),
)


def _run_job(rng: random.Random, clock: _Clock, order: _Order, job: _Job) -> None:
    """Decide how far the order got by the as-of date: waiting, started, on hold, done or cancelled."""
    if rng.random() < 0.03:
        order.status = "cancelled"
        return
    chance, mean_days = _BACKLOG_WAIT[order.priority]
    wait = rng.expovariate(1 / _RESPONSE_HOURS[order.priority])
    if rng.random() < chance:
        wait += rng.expovariate(1 / (mean_days * 24))
    parts_wait = rng.expovariate(1 / (12 * 24)) if rng.random() < 0.08 else 0.0
    if order.asset.decommissioned_on is not None:
        # Equipment is only retired once its last jobs are closed.
        wait, parts_wait = min(wait, 7 * 24), min(parts_wait, 3 * 24)
    started = order.created_at + _hours(wait)
    completed = started + _hours(job.labor_hours * rng.uniform(1.0, 1.4) + parts_wait)
    if completed < clock.cutoff:
        elapsed = (completed - order.created_at).total_seconds() / 3600
        order.status, order.started_at, order.completed_at = "completed", started, completed
        order.labor_hours = job.labor_hours
        # The equipment cannot have been down for longer than the order was open.
        order.downtime_hours = min(job.downtime_hours, math.floor(elapsed * 4) / 4)
        order.parts = job.parts
    elif started < clock.cutoff:
        order.status, order.started_at = ("on_hold" if parts_wait else "in_progress"), started
    else:
        order.status = "open"


def _unplanned_weight(kind: str, asset: _Asset, clock: _Clock) -> float:
    begin, end = asset.active_window(clock)
    days = max(0.0, (end - begin).total_seconds() / 86_400)
    if kind == "corrective":
        age_years = (clock.as_of - asset.install_date).days / 365
        criticality = {"high": 1.2, "medium": 1.0, "low": 0.8}[asset.criticality]
        return days * asset.profile.failure_rate * criticality * (1 + age_years / 25)
    if kind == "predictive":
        return days * (3.0 if asset.profile.equipment_type in _MONITORED_TYPES else 0.4)
    return days


def _unplanned_orders(
    rng: random.Random, clock: _Clock, assets: Sequence[_Asset], stock: _Stock, count: int
) -> list[_Order]:
    """Corrective, predictive and inspection orders, spread evenly over each asset's service life."""
    orders: list[_Order] = []
    for kind, share, make in _UNPLANNED_KINDS:
        weights = [_unplanned_weight(kind, asset, clock) for asset in assets]
        for asset in rng.choices(assets, weights=weights, k=round(count * share)):
            order, job = make(rng, asset, _moment(rng, *asset.active_window(clock)), stock)
            _run_job(rng, clock, order, job)
            orders.append(order)
    return orders


def _current_situation(
    rng: random.Random, clock: _Clock, assets: Sequence[_Asset], onsets: dict[int, datetime.datetime]
) -> list[_Order]:
    """Open work that explains today's equipment status and today's sensor trends."""
    orders: list[_Order] = []
    no_stock = _Stock({}, {}, {}, [])  # unfinished work has not consumed parts yet
    fresh = True  # one breakdown from yesterday, so "failures this month" has an answer even on the 2nd
    for asset in assets:
        if asset.status == "out_of_service":
            # Broken down and waiting for parts.
            created = clock.cutoff - _hours(rng.uniform(3, 40) * 24)
            order, _ = _corrective(rng, asset, created, no_stock)
            order.priority = _BREAKDOWN_PRIORITY.pick(rng)
            order.status, order.started_at = "on_hold", created + _hours(rng.uniform(1, 12))
        elif asset.status == "under_maintenance":
            created = clock.cutoff - _hours(rng.uniform(2, 20) if fresh else rng.uniform(4, 96))
            fresh = False
            order, _ = _corrective(rng, asset, created, no_stock)
            started = _moment(rng, created, min(created + _hours(3), clock.cutoff))
            order.status, order.started_at = "in_progress", started
        elif asset.id in onsets:
            # Condition monitoring caught the trend and raised a predictive order.
            created = clock.cutoff - _hours(rng.uniform(2, 10) * 24)
            order, _ = _predictive(rng, asset, created, no_stock)
            order.title = f"{_PREDICTIVE_TITLES[0]} - {asset.name}"
            order.priority = "high"
            order.status = _TREND_STATUS.pick(rng)
            order.started_at = _moment(rng, created, clock.cutoff) if order.status == "in_progress" else None
        else:
            continue
        order.due_date = created.date() + datetime.timedelta(_DUE_DAYS[order.priority])
        orders.append(order)
    return orders


def _assign_technician(rng: random.Random, order: _Order, stock: _Stock) -> _Technician | None:
    """A technician of the right specialty at the asset's site, who still worked there at the time."""
    # Open orders are often still unassigned; a cancelled one sometimes had someone on it.
    assign_chance = {"open": 0.4, "cancelled": 0.25}.get(order.status, 1.0)
    if assign_chance < 1.0 and rng.random() >= assign_chance:
        return None
    unfinished = order.status in _OPEN_STATUSES
    day = order.created_at.date()
    site = order.asset.site
    for pool in (
        stock.technicians.get((site, order.specialty), []),
        stock.by_site.get(site, []),
        stock.everyone,
    ):
        candidates = [
            tech for tech in pool if tech.left_on is None or (not unfinished and tech.left_on > day)
        ]
        if candidates:
            return rng.choice(candidates)
    return None


def _order_row(order_id: int, code: str, order: _Order) -> Row:
    done = order.status == "completed"
    tech = order.technician
    labor_cost = (
        order.labor_hours * tech.hourly_rate if done and tech and order.labor_hours is not None else None
    )
    return {
        "id": order_id,
        "code": code,
        "equipment_id": order.asset.id,
        "plan_id": order.plan_id,
        "type": order.type,
        "priority": order.priority,
        "status": order.status,
        "title": order.title,
        "failure_mode": order.failure_mode,
        "technician_id": tech.id if tech else None,
        "created_at": order.created_at,
        "due_date": order.due_date,
        "started_at": order.started_at,
        "completed_at": order.completed_at if done else None,
        "labor_hours": order.labor_hours if done else None,
        "downtime_hours": order.downtime_hours if done else None,
        "labor_cost": labor_cost,
        "parts_cost": sum(quantity * part.unit_cost for part, quantity in order.parts) if done else None,
    }


def _work_order_rows(rng: random.Random, orders: list[_Order], stock: _Stock) -> tuple[list[Row], list[Row]]:
    """Number the orders in creation order ('WO-YYYY-NNNNNN' counts per year) and flatten them to rows."""
    orders.sort(key=lambda order: order.created_at)
    per_year: dict[int, int] = {}
    order_rows: list[Row] = []
    part_rows: list[Row] = []
    for order_id, order in enumerate(orders, start=1):
        year = order.created_at.year
        per_year[year] = per_year.get(year, 0) + 1
        order.technician = _assign_technician(rng, order, stock)
        order_rows.append(_order_row(order_id, f"WO-{year}-{per_year[year]:06d}", order))
        part_rows.extend(
            {"work_order_id": order_id, "part_id": part.id, "quantity": quantity}
            for part, quantity in order.parts
        )
    return order_rows, part_rows


def _make_work_orders(
    rng: random.Random,
    clock: _Clock,
    *,
    assets: Sequence[_Asset],
    plans: Sequence[_Plan],
    stock: _Stock,
    onsets: dict[int, datetime.datetime],
    scale: float,
) -> list[_Order]:
    preventive = _preventive_orders(rng, clock, plans, stock)
    current = _current_situation(rng, clock, assets, onsets)
    # About 8,000 orders per scale unit in all; the unplanned ones fill what the plans leave.
    target = round(rng.uniform(7_700, 8_300) * scale)
    unplanned = _unplanned_orders(
        rng, clock, assets, stock, max(target - len(preventive) - len(current), target // 3)
    )
    return preventive + current + unplanned


# --------------------------------------------------------------------------------------------------
# Sensor readings
# --------------------------------------------------------------------------------------------------


_DEGRADATION: Final = MappingProxyType(
    {"temperature_c": (0.08, 0.2), "vibration_mm_s": (1.0, 2.0), "current_a": (0.05, 0.15)}
)


def _degradation_onsets(
    rng: random.Random, clock: _Clock, assets: Sequence[_Asset]
) -> dict[int, datetime.datetime]:
    """Monitored assets whose condition has been getting worse lately, and since when."""
    monitored = [
        asset.id
        for asset in assets
        if asset.profile.equipment_type in _MONITORED_TYPES
        and asset.status in ("operational", "under_maintenance")
    ]
    chosen = sorted(_pick_exact(rng, monitored, _share(len(monitored), 0.1, minimum=1)))
    return {asset_id: clock.cutoff - _hours(rng.uniform(20, 45) * 24) for asset_id in chosen}


def _sensor_rows(
    rng: random.Random, clock: _Clock, assets: Sequence[_Asset], onsets: dict[int, datetime.datetime]
) -> list[Row]:
    """One reading per metric every 6 hours over the last 90 days, for every monitored asset in service."""
    first = clock.cutoff - datetime.timedelta(days=_READING_DAYS)
    times = [first + step * _READING_STEP for step in range(_READING_DAYS * 24 // 6)]
    # Load (and so temperature, current and vibration) peaks mid-afternoon.
    cycle = [math.sin(2 * math.pi * (moment.hour - 9) / 24) for moment in times]
    rows: list[Row] = []
    for asset in assets:
        if asset.decommissioned_on is not None or asset.profile.equipment_type not in _MONITORED_TYPES:
            continue
        progress = _degradation_progress(times, onsets.get(asset.id), clock.cutoff)
        for metric in asset.profile.metrics:
            base = rng.uniform(*metric.baseline)
            swing = base * metric.daily_swing
            growth = base * rng.uniform(*_DEGRADATION.get(metric.metric, (0.0, 0.0)))
            # Triangular noise (sum of two uniforms) with the wanted standard deviation: close enough to
            # Gaussian for sensor jitter, several times cheaper than random.gauss over a million readings,
            # and bounded, so readings stay positive. int(x * 100 + 0.5) / 100 rounds positive values to
            # cents much faster than round().
            spread, draw = base * metric.noise * math.sqrt(6), rng.random
            values = [
                int((base + swing * wave + growth * worse + (draw() + draw() - 1.0) * spread) * 100 + 0.5)
                / 100
                for wave, worse in zip(cycle, progress, strict=True)
            ]
            first_id, equipment_id, name = len(rows) + 1, asset.id, metric.metric
            rows.extend(
                {
                    "id": first_id + index,
                    "equipment_id": equipment_id,
                    "metric": name,
                    "recorded_at": moment,
                    "value": value,
                }
                for index, (moment, value) in enumerate(zip(times, values, strict=True))
            )
    return rows


def _degradation_progress(
    times: Sequence[datetime.datetime], onset: datetime.datetime | None, cutoff: datetime.datetime
) -> list[float]:
    """How far a developing fault has grown at each reading (0 before onset, 1 at the as-of date)."""
    if onset is None:
        return [0.0] * len(times)
    span = (cutoff - onset).total_seconds()
    return [max(0.0, (moment - onset).total_seconds() / span) ** 2 for moment in times]


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def generate(*, seed: int = 42, as_of: datetime.date, scale: float = 1.0) -> DemoRows:
    """Build the demo CMMS rows for `as_of` (nothing dated on or after its midnight), deterministically.

    The same seed, as-of date and scale always give the same rows. `scale` multiplies every volume except
    the 5 sites (1.0 gives about 250 assets, 8,000 work orders and 120,000 sensor readings).
    """
    if not 0 < scale <= MAX_SCALE:
        raise ValueError(f"scale must be above 0 and at most {MAX_SCALE}, not {scale}")
    if isinstance(as_of, datetime.datetime):
        as_of = as_of.date()
    clock = _Clock.for_day(as_of)
    assets = _make_assets(_stream(seed, "equipment"), clock, scale)
    technicians = _make_technicians(_stream(seed, "technicians"), clock, scale)
    parts = _make_spare_parts(_stream(seed, "spare_parts"), scale)
    plans = _make_plans(_stream(seed, "plans"), clock, assets)
    onsets = _degradation_onsets(_stream(seed, "degradation"), clock, assets)
    stock = _index_stock(parts, technicians)
    orders = _make_work_orders(
        _stream(seed, "work_orders"),
        clock,
        assets=assets,
        plans=plans,
        stock=stock,
        onsets=onsets,
        scale=scale,
    )
    order_rows, order_part_rows = _work_order_rows(_stream(seed, "assignments"), orders, stock)
    return _in_label_order(
        DemoRows(
            sites=_site_rows(),
            equipment=_equipment_rows(assets),
            technicians=_technician_rows(technicians),
            maintenance_plans=_plan_rows(plans),
            spare_parts=_spare_part_rows(parts),
            work_orders=order_rows,
            work_order_parts=order_part_rows,
            sensor_readings=_sensor_rows(_stream(seed, "sensor_readings"), clock, assets, onsets),
        )
    )


def _in_label_order(rows: DemoRows) -> DemoRows:
    """Number sites, equipment, technicians and parts in the order of the label people see.

    Top-N answers break ties in the order of their rows' keys; with ids in label order, a query grouped by
    id and one grouped by tag, name or part number list tied rows the same way.
    """
    sites = _renumber(rows.sites, "name")
    for table in (rows.equipment, rows.technicians, rows.spare_parts):
        _remap(table, "site_id", sites)
    equipment = _renumber(rows.equipment, "tag")
    for table in (rows.maintenance_plans, rows.work_orders, rows.sensor_readings):
        _remap(table, "equipment_id", equipment)
    _remap(rows.work_orders, "technician_id", _renumber(rows.technicians, "name"))
    _remap(rows.work_order_parts, "part_id", _renumber(rows.spare_parts, "part_number"))
    return rows


def _renumber(rows: list[Row], label: str) -> dict[int, int]:
    """Give `rows` ids 1, 2, … in order of `label`; returns old id -> new id."""
    ordered = sorted(rows, key=lambda row: str(row[label]))
    new_ids = {int(str(row["id"])): number for number, row in enumerate(ordered, start=1)}
    for row in rows:
        row["id"] = new_ids[int(str(row["id"]))]
    rows.sort(key=lambda row: int(str(row["id"])))
    return new_ids


def _remap(rows: list[Row], column: str, new_ids: dict[int, int]) -> None:
    for row in rows:
        old = row[column]
        if old is not None:
            row[column] = new_ids[int(str(old))]


async def write_demo_database(
    target: str, *, seed: int = 42, as_of: datetime.date | None = None, scale: float = 1.0
) -> dict[str, int]:
    """Generate the demo rows and write them, with the schema, to a SQLite file or a database URL.

    `target` is a SQLite file path or a URL (sqlite, sqlite+aiosqlite, postgresql, postgresql+asyncpg).
    A SQLite file is written to a temporary file next to it and renamed into place, so readers never see
    a half-written database; on a server database the CMMS tables are dropped and refilled in one
    transaction. `as_of` defaults to today's UTC date. Returns the number of rows written per table.
    """
    day = as_of if as_of is not None else datetime.datetime.now(datetime.UTC).date()
    # Generation is pure CPU work: keep it off the event loop.
    rows = await asyncio.to_thread(generate, seed=seed, as_of=day, scale=scale)
    url = make_url(to_async_url(target))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        await _write_sqlite_file(pathlib.Path(url.database or ""), url, rows)
    else:
        engine = create_async_engine(url)
        try:
            await _fill(engine, rows)
        finally:
            await engine.dispose()
    return rows.counts()


async def ensure_demo_database(path: pathlib.Path, *, seed: int, scale: float) -> bool:
    """Write the demo SQLite database at `path` (as of today, creating its folders) unless it exists.

    Returns whether it wrote the database.
    """
    if await asyncio.to_thread(path.exists):
        return False
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await write_demo_database(str(path), seed=seed, scale=scale)
    return True


async def _fill(engine: AsyncEngine, rows: DemoRows) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_create_tables)
        for table_name, table_rows in rows.by_table().items():
            table = metadata.tables[table_name]
            # Big executemany batches: one statement, many parameter sets, few round trips.
            for start in range(0, len(table_rows), _INSERT_BATCH):
                await conn.execute(table.insert(), table_rows[start : start + _INSERT_BATCH])
        await conn.run_sync(_create_indexes)
        # Statistics for the query planner: without them SQLite picks the wrong index for "equipment that
        # needs maintenance" and takes 0.9 s instead of 7 ms at scale 10.
        await conn.exec_driver_sql("ANALYZE")


def _create_tables(conn: Connection) -> None:
    """Drop the CMMS tables if present and create them without secondary indexes, for a fast bulk load."""
    metadata.drop_all(conn, checkfirst=True)
    for table in metadata.sorted_tables:
        conn.execute(CreateTable(table))


def _create_indexes(conn: Connection) -> None:
    # Building an index once over loaded rows is several times faster than maintaining it per insert;
    # sorted by name so the schema (and SQLite's iterdump) comes out the same on every run.
    for table in metadata.sorted_tables:
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            index.create(conn)


async def _write_sqlite_file(path: pathlib.Path, url: URL, rows: DemoRows) -> None:
    # A hidden name in the same folder, so the final rename stays on one file system and is atomic.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    engine = create_async_engine(url.set(database=str(temporary)))
    event.listen(engine.sync_engine, "connect", _unsafe_fast_sqlite)
    try:
        try:
            await _fill(engine, rows)
        finally:
            await engine.dispose()
        await asyncio.to_thread(_move_into_place, temporary, path)
    except BaseException:
        await asyncio.to_thread(temporary.unlink, missing_ok=True)
        raise


def _unsafe_fast_sqlite(dbapi_connection: Any, _connection_record: Any) -> None:
    # No journal and no fsync while filling the temporary file: a crash only loses that file, which is
    # never renamed into place, and the finished file is fsynced before the rename.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=OFF")
    cursor.execute("PRAGMA synchronous=OFF")
    # Let SQLite sort with a helper thread when it builds the indexes after the load.
    cursor.execute("PRAGMA threads=2")
    cursor.close()


def _move_into_place(temporary: pathlib.Path, path: pathlib.Path) -> None:
    with temporary.open("rb") as written:
        os.fsync(written.fileno())
    # A journal or WAL left by the replaced database would be replayed into the new one.
    for suffix in ("-journal", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
