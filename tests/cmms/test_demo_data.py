"""The demo CMMS database obeys every rule of the shared DEMO_DATA.md, checked in SQL as a reviewer would."""

import datetime
import hashlib
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.exc import IntegrityError

from maintbot.cmms import demo_data
from maintbot.cmms.demo_data import DemoRows, ensure_demo_database, generate, write_demo_database

SEED = 42
AS_OF = datetime.date(2026, 11, 23)
CUTOFF = "2026-11-23 00:00:00"  # the as-of date's midnight: nothing may be dated at or after it
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"

SITES = [
    ("MTY", "Monterrey Plant", "Monterrey", "Mexico"),
    ("GDL", "Guadalajara Plant", "Guadalajara", "Mexico"),
    ("BOG", "Bogotá Plant", "Bogotá", "Colombia"),
    ("MAD", "Madrid Plant", "Madrid", "Spain"),
    ("HOU", "Houston Plant", "Houston", "United States"),
]
EQUIPMENT_TYPES = {
    "pump": "PMP",
    "compressor": "CMP",
    "motor": "MTR",
    "conveyor": "CNV",
    "boiler": "BLR",
    "chiller": "CHL",
    "generator": "GEN",
    "cnc_machine": "CNC",
    "press": "PRS",
    "forklift": "FLT",
}
ALLOWED_VALUES = {
    ("equipment", "equipment_type"): set(EQUIPMENT_TYPES),
    ("equipment", "area"): {"production", "packaging", "utilities", "warehouse", "workshop"},
    ("equipment", "criticality"): {"high", "medium", "low"},
    ("equipment", "status"): {"operational", "under_maintenance", "out_of_service", "decommissioned"},
    ("technicians", "specialty"): {"mechanical", "electrical", "instrumentation", "hvac", "general"},
    ("technicians", "shift"): {"morning", "afternoon", "night"},
    ("technicians", "active"): {0, 1},
    ("maintenance_plans", "task"): {
        "lubrication",
        "filter_replacement",
        "inspection",
        "calibration",
        "vibration_analysis",
        "belt_replacement",
        "cleaning",
        "overhaul",
    },
    ("maintenance_plans", "active"): {0, 1},
    ("work_orders", "type"): {"preventive", "corrective", "predictive", "inspection"},
    ("work_orders", "priority"): {"low", "medium", "high", "critical"},
    ("work_orders", "status"): {"open", "in_progress", "on_hold", "completed", "cancelled"},
    ("work_orders", "failure_mode"): {
        None,
        "bearing_failure",
        "overheating",
        "leak",
        "electrical_fault",
        "misalignment",
        "wear",
        "blockage",
        "sensor_fault",
    },
    ("spare_parts", "category"): {
        "bearing",
        "filter",
        "belt",
        "seal",
        "lubricant",
        "electrical",
        "sensor",
        "valve",
    },
    ("sensor_readings", "metric"): {"temperature_c", "vibration_mm_s", "pressure_bar", "current_a"},
}
SENSOR_METRICS = {
    "pump": {"temperature_c", "vibration_mm_s", "pressure_bar"},
    "compressor": {"temperature_c", "vibration_mm_s", "pressure_bar"},
    "boiler": {"temperature_c", "vibration_mm_s", "pressure_bar"},
    "motor": {"temperature_c", "vibration_mm_s", "current_a"},
    "chiller": {"temperature_c", "vibration_mm_s"},
}
ALL_TABLES = (
    "sites",
    "equipment",
    "technicians",
    "maintenance_plans",
    "spare_parts",
    "work_orders",
    "work_order_parts",
    "sensor_readings",
)
OPEN = "('open', 'in_progress', 'on_hold')"
TIMESTAMP_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"


@pytest.fixture(scope="session")
async def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scale-1 demo database with a fixed seed and as-of date, written once and only read."""
    path = tmp_path_factory.mktemp("cmms_demo") / "demo.sqlite3"
    await write_demo_database(str(path), seed=SEED, as_of=AS_OF)
    return path


@pytest.fixture(scope="session")
def db(demo_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"file:{demo_path}?mode=ro", uri=True)
    yield connection
    connection.close()


def scalar(db: sqlite3.Connection, sql: str, *params: Any) -> Any:
    return db.execute(sql, params).fetchone()[0]


def column(db: sqlite3.Connection, sql: str, *params: Any) -> list[Any]:
    return [row[0] for row in db.execute(sql, params)]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dump_digest(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        digest = hashlib.sha256()
        for line in connection.iterdump():
            digest.update(line.encode())
        return digest.hexdigest()
    finally:
        connection.close()


# ------------------------------------------------------------------------------------------------
# Reference data and volumes
# ------------------------------------------------------------------------------------------------


def test_sites_are_the_five_fixed_plants(db: sqlite3.Connection) -> None:
    assert sorted(db.execute("SELECT code, name, city, country FROM sites").fetchall()) == sorted(SITES)


@pytest.mark.parametrize(
    ("table", "label"),
    [("sites", "name"), ("equipment", "tag"), ("technicians", "name"), ("spare_parts", "part_number")],
)
def test_ids_follow_the_labels_people_see(db: sqlite3.Connection, table: str, label: str) -> None:
    # Ties in a top-N then come out in the same order whether a query groups by id or by label.
    by_id = [row[0] for row in db.execute(f"SELECT {label} FROM {table} ORDER BY id")]
    assert by_id == sorted(by_id)


def test_the_planner_has_statistics(db: sqlite3.Connection) -> None:
    assert scalar(db, "SELECT COUNT(*) FROM sqlite_stat1") > 0


def test_volumes_at_scale_1_are_in_the_documented_ranges(db: sqlite3.Connection) -> None:
    count = {table: scalar(db, f"SELECT COUNT(*) FROM {table}") for table in ALL_TABLES}
    assert count["equipment"] == 250
    assert count["technicians"] == 40
    assert 350 <= count["maintenance_plans"] <= 450
    assert 7_000 <= count["work_orders"] <= 9_000
    assert count["spare_parts"] == 300
    assert 8_000 <= count["work_order_parts"] <= 14_000
    assert 80_000 <= count["sensor_readings"] <= 150_000


@pytest.mark.parametrize(
    ("table", "kind", "every"),
    [
        ("equipment", "equipment_type", len(EQUIPMENT_TYPES)),
        ("technicians", "specialty", 5),
        ("spare_parts", "category", 8),
    ],
)
def test_every_site_has_every_kind(db: sqlite3.Connection, table: str, kind: str, every: int) -> None:
    per_site = db.execute(f"SELECT site_id, COUNT(DISTINCT {kind}) FROM {table} GROUP BY site_id").fetchall()
    assert per_site == [(site_id, every) for site_id in range(1, 6)]


def test_every_site_has_an_active_technician_of_every_specialty(db: sqlite3.Connection) -> None:
    sql = "SELECT site_id, COUNT(DISTINCT specialty) FROM technicians WHERE active GROUP BY site_id"
    assert db.execute(sql).fetchall() == [(site_id, 5) for site_id in range(1, 6)]


def test_about_5_percent_of_equipment_is_decommissioned(db: sqlite3.Connection) -> None:
    share = scalar(db, "SELECT AVG(status = 'decommissioned') FROM equipment")
    assert 0.03 <= share <= 0.08


def test_about_10_percent_of_technicians_are_inactive(db: sqlite3.Connection) -> None:
    assert 0.05 <= scalar(db, "SELECT AVG(NOT active) FROM technicians") <= 0.15


@pytest.mark.parametrize(("table", "name"), sorted(ALLOWED_VALUES))
def test_every_allowed_value_appears_and_nothing_else(db: sqlite3.Connection, table: str, name: str) -> None:
    assert set(column(db, f"SELECT DISTINCT {name} FROM {table}")) == ALLOWED_VALUES[table, name]


def test_identifiers_follow_the_documented_formats(db: sqlite3.Connection) -> None:
    for tag, equipment_type in db.execute("SELECT tag, equipment_type FROM equipment"):
        assert re.fullmatch(rf"{EQUIPMENT_TYPES[equipment_type]}-\d{{4}}", tag)
    for code, created_at in db.execute("SELECT code, created_at FROM work_orders"):
        assert re.fullmatch(rf"WO-{created_at[:4]}-\d{{6}}", code)
    for part_number, category in db.execute("SELECT part_number, category FROM spare_parts"):
        assert re.fullmatch(r"[A-Z]{3}-[0-9A-Z]{4}(-[0-9A-Z]+)?", part_number), (part_number, category)
    assert scalar(db, "SELECT COUNT(*) FROM spare_parts WHERE part_number LIKE 'BRG-62__'") > 0


def test_names_look_real(db: sqlite3.Connection) -> None:
    names = column(db, "SELECT name FROM technicians")
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"\w+( \w\.)?( \w+){1,2}", name) for name in names), names
    assert scalar(db, "SELECT COUNT(DISTINCT manufacturer) FROM equipment") >= 30
    assert scalar(db, "SELECT COUNT(DISTINCT supplier) FROM spare_parts") >= 20


def test_values_are_stored_in_the_contract_formats(db: sqlite3.Connection) -> None:
    timestamps = ["created_at", "started_at", "completed_at"]
    for name in timestamps:
        sql = f"""SELECT COUNT(*) FROM work_orders WHERE {name} IS NOT NULL
            AND (typeof({name}) <> 'text' OR {name} NOT GLOB '{TIMESTAMP_GLOB}')"""
        assert scalar(db, sql) == 0, name
    assert scalar(db, "SELECT COUNT(*) FROM sensor_readings WHERE length(recorded_at) <> 19") == 0
    for table, name in [
        ("work_orders", "due_date"),
        ("maintenance_plans", "next_due"),
        ("equipment", "install_date"),
    ]:
        assert scalar(db, f"SELECT COUNT(*) FROM {table} WHERE date({name}) IS NOT {name}") == 0, name
    assert set(column(db, "SELECT DISTINCT typeof(active) FROM technicians")) == {"integer"}


# ------------------------------------------------------------------------------------------------
# Work orders
# ------------------------------------------------------------------------------------------------


def test_completed_orders_have_times_and_costs(db: sqlite3.Connection) -> None:
    sql = """SELECT COUNT(*) FROM work_orders WHERE status = 'completed' AND NOT (
        started_at IS NOT NULL AND completed_at IS NOT NULL AND started_at <= completed_at
        AND created_at <= started_at AND labor_hours > 0 AND downtime_hours >= 0
        AND labor_cost IS NOT NULL AND parts_cost IS NOT NULL)"""
    assert scalar(db, sql) == 0


def test_other_orders_have_no_completion_data(db: sqlite3.Connection) -> None:
    sql = """SELECT COUNT(*) FROM work_orders WHERE status <> 'completed' AND (completed_at IS NOT NULL
        OR labor_hours IS NOT NULL OR downtime_hours IS NOT NULL OR labor_cost IS NOT NULL
        OR parts_cost IS NOT NULL)"""
    assert scalar(db, sql) == 0
    assert (
        scalar(db, "SELECT COUNT(*) FROM work_orders WHERE status = 'open' AND started_at IS NOT NULL") == 0
    )
    assert (
        scalar(db, "SELECT COUNT(*) FROM work_orders WHERE status = 'in_progress' AND started_at IS NULL")
        == 0
    )


def test_labor_cost_is_labor_hours_times_the_technicians_rate(db: sqlite3.Connection) -> None:
    sql = """SELECT COUNT(*) FROM work_orders w JOIN technicians t ON t.id = w.technician_id
        WHERE w.status = 'completed' AND abs(w.labor_cost - w.labor_hours * t.hourly_rate) > 1e-6"""
    assert scalar(db, sql) == 0


def test_parts_cost_is_the_sum_of_the_parts_used(db: sqlite3.Connection) -> None:
    sql = """SELECT COUNT(*) FROM work_orders w
        LEFT JOIN (SELECT wp.work_order_id, SUM(wp.quantity * p.unit_cost) AS cost
                   FROM work_order_parts wp JOIN spare_parts p ON p.id = wp.part_id
                   GROUP BY wp.work_order_id) u
          ON u.work_order_id = w.id
        WHERE w.status = 'completed' AND abs(w.parts_cost - COALESCE(u.cost, 0)) > 1e-6"""
    assert scalar(db, sql) == 0
    assert scalar(db, "SELECT COUNT(*) FROM work_orders WHERE status = 'completed' AND parts_cost = 0") > 0


def test_parts_come_from_the_equipments_own_site(db: sqlite3.Connection) -> None:
    sql = """SELECT COUNT(*) FROM work_order_parts wp JOIN work_orders w ON w.id = wp.work_order_id
        JOIN equipment e ON e.id = w.equipment_id JOIN spare_parts p ON p.id = wp.part_id
        WHERE p.site_id <> e.site_id OR wp.quantity < 1"""
    assert scalar(db, sql) == 0


def test_only_corrective_orders_have_a_failure_mode(db: sqlite3.Connection) -> None:
    sql = "SELECT COUNT(*) FROM work_orders WHERE (type = 'corrective') <> (failure_mode IS NOT NULL)"
    assert scalar(db, sql) == 0


def test_started_and_completed_orders_have_a_technician(db: sqlite3.Connection) -> None:
    sql = """SELECT COUNT(*) FROM work_orders
        WHERE status IN ('in_progress', 'completed') AND technician_id IS NULL"""
    assert scalar(db, sql) == 0
    assert scalar(db, "SELECT COUNT(*) FROM work_orders WHERE status = 'open' AND technician_id IS NULL") > 0


def test_open_work_is_assigned_to_active_technicians(db: sqlite3.Connection) -> None:
    sql = f"""SELECT COUNT(*) FROM work_orders w JOIN technicians t ON t.id = w.technician_id
        WHERE w.status IN {OPEN} AND NOT t.active"""
    assert scalar(db, sql) == 0


def test_preventive_orders_come_from_plans_of_the_same_equipment(db: sqlite3.Connection) -> None:
    assert (
        scalar(db, "SELECT COUNT(*) FROM work_orders WHERE (type = 'preventive') <> (plan_id IS NOT NULL)")
        == 0
    )
    sql = """SELECT COUNT(*) FROM work_orders w JOIN maintenance_plans p ON p.id = w.plan_id
        WHERE p.equipment_id <> w.equipment_id"""
    assert scalar(db, sql) == 0


def test_backlog_is_between_150_and_400_with_some_past_due(db: sqlite3.Connection) -> None:
    assert 150 <= scalar(db, f"SELECT COUNT(*) FROM work_orders WHERE status IN {OPEN}") <= 400
    past_due = scalar(
        db, f"SELECT COUNT(*) FROM work_orders WHERE status IN {OPEN} AND due_date < ?", str(AS_OF)
    )
    assert past_due >= 10


def test_decommissioned_equipment_has_no_live_plans_work_or_readings(db: sqlite3.Connection) -> None:
    retired = "(SELECT id FROM equipment WHERE status = 'decommissioned')"
    assert (
        scalar(db, f"SELECT COUNT(*) FROM maintenance_plans WHERE active AND equipment_id IN {retired}") == 0
    )
    assert (
        scalar(db, f"SELECT COUNT(*) FROM work_orders WHERE status IN {OPEN} AND equipment_id IN {retired}")
        == 0
    )
    assert scalar(db, f"SELECT COUNT(*) FROM sensor_readings WHERE equipment_id IN {retired}") == 0
    assert scalar(db, f"SELECT COUNT(*) FROM maintenance_plans WHERE equipment_id IN {retired}") > 0


def test_out_of_service_and_repaired_equipment_have_matching_open_orders(db: sqlite3.Connection) -> None:
    for status, order_status in [("out_of_service", "on_hold"), ("under_maintenance", "in_progress")]:
        sql = """SELECT COUNT(*) FROM equipment e WHERE e.status = ? AND NOT EXISTS (
            SELECT 1 FROM work_orders w WHERE w.equipment_id = e.id AND w.status = ?)"""
        assert scalar(db, sql, status, order_status) == 0, status


def test_orders_spread_over_the_three_years_before_as_of(db: sqlite3.Connection) -> None:
    first, last = db.execute("SELECT MIN(created_at), MAX(created_at) FROM work_orders").fetchone()
    assert "2023-11-23" <= first < "2024-01-01"
    assert last >= "2026-11-22"
    months = column(db, "SELECT strftime('%Y-%m', created_at) AS month FROM work_orders GROUP BY month")
    assert len(months) == 37  # 2023-11 to 2026-11
    per_month = column(
        db,
        "SELECT COUNT(*) FROM work_orders WHERE created_at >= '2024-01-01'"
        " GROUP BY strftime('%Y-%m', created_at)",
    )
    assert min(per_month) > 0.6 * max(per_month)


def test_every_recent_month_has_completed_work_and_failures(db: sqlite3.Connection) -> None:
    """'This month', 'last month', 'last 6 months' and 'this year' questions get answers."""
    completed = dict(
        db.execute(
            "SELECT strftime('%Y-%m', completed_at), COUNT(*) FROM work_orders"
            " WHERE status = 'completed' GROUP BY 1"
        ).fetchall()
    )
    failures = dict(
        db.execute(
            "SELECT strftime('%Y-%m', created_at), COUNT(*) FROM work_orders"
            " WHERE type = 'corrective' GROUP BY 1"
        )
    )
    for month in [f"2025-{number:02d}" for number in range(11, 13)] + [
        f"2026-{number:02d}" for number in range(1, 12)
    ]:
        assert completed.get(month, 0) >= 100, month
        assert failures.get(month, 0) >= 20, month
    # The current month up to the as-of date (22 days).
    assert completed.get("2026-11", 0) >= 60
    assert failures.get("2026-11", 0) >= 10


# ------------------------------------------------------------------------------------------------
# Plans and stock
# ------------------------------------------------------------------------------------------------


def test_next_due_is_last_performed_plus_frequency(db: sqlite3.Connection) -> None:
    sql = """SELECT COUNT(*) FROM maintenance_plans WHERE last_performed IS NOT NULL
        AND next_due <> date(last_performed, '+' || frequency_days || ' days')"""
    assert scalar(db, sql) == 0
    assert scalar(db, "SELECT COUNT(*) FROM maintenance_plans WHERE last_performed IS NULL") > 0


def test_last_performed_is_the_last_completed_preventive_order(db: sqlite3.Connection) -> None:
    sql = """SELECT COUNT(*) FROM maintenance_plans p LEFT JOIN (
            SELECT plan_id, date(MAX(completed_at)) AS last FROM work_orders
            WHERE status = 'completed' AND plan_id IS NOT NULL GROUP BY plan_id) w ON w.plan_id = p.id
        WHERE p.last_performed IS NOT w.last"""
    assert scalar(db, sql) == 0


def test_10_to_30_percent_of_active_plans_are_overdue_and_some_fall_due_soon(db: sqlite3.Connection) -> None:
    overdue = scalar(db, "SELECT AVG(next_due < ?) FROM maintenance_plans WHERE active", str(AS_OF))
    assert 0.10 <= overdue <= 0.30
    soon = scalar(
        db,
        "SELECT COUNT(*) FROM maintenance_plans WHERE active AND next_due BETWEEN ? AND date(?, '+14 days')",
        str(AS_OF),
        str(AS_OF),
    )
    assert soon >= 10


def test_5_to_20_percent_of_spare_parts_are_at_or_below_reorder_point(db: sqlite3.Connection) -> None:
    assert 0.05 <= scalar(db, "SELECT AVG(quantity_on_hand <= reorder_point) FROM spare_parts") <= 0.20


# ------------------------------------------------------------------------------------------------
# Plausibility
# ------------------------------------------------------------------------------------------------


def test_failure_modes_depend_on_the_equipment_type(db: sqlite3.Connection) -> None:
    sql = """SELECT failure_mode FROM work_orders w JOIN equipment e ON e.id = w.equipment_id
        WHERE w.type = 'corrective' AND e.equipment_type = ?
        GROUP BY failure_mode ORDER BY COUNT(*) DESC LIMIT 2"""
    assert column(db, sql, "conveyor")[0] == "wear"
    assert set(column(db, sql, "pump")) == {"leak", "bearing_failure"}
    assert column(db, sql, "boiler")[0] == "overheating"
    assert column(db, sql, "motor")[0] == "electrical_fault"


def test_downtime_and_cost_differ_by_equipment_type(db: sqlite3.Connection) -> None:
    sql = """SELECT e.equipment_type, AVG(w.downtime_hours), AVG(w.labor_cost + w.parts_cost)
        FROM work_orders w JOIN equipment e ON e.id = w.equipment_id
        WHERE w.type = 'corrective' AND w.status = 'completed' GROUP BY e.equipment_type"""
    rows = {kind: (mttr, cost) for kind, mttr, cost in db.execute(sql)}
    assert rows["boiler"][0] > 2 * rows["conveyor"][0]
    assert rows["press"][0] > rows["forklift"][0]
    mttrs = [mttr for mttr, _ in rows.values()]
    costs = [cost for _, cost in rows.values()]
    assert max(mttrs) > 2.5 * min(mttrs)
    assert max(costs) > 1.5 * min(costs)


def test_sensor_readings_cover_every_monitored_asset_every_6_hours_for_90_days(
    db: sqlite3.Connection,
) -> None:
    expected = {
        (equipment_id, metric)
        for equipment_id, kind in db.execute(
            "SELECT id, equipment_type FROM equipment WHERE status <> 'decommissioned'"
        )
        for metric in SENSOR_METRICS.get(kind, ())
    }
    series = db.execute(
        "SELECT equipment_id, metric, COUNT(*), MIN(recorded_at), MAX(recorded_at),"
        " COUNT(DISTINCT recorded_at)"
        " FROM sensor_readings GROUP BY equipment_id, metric"
    ).fetchall()
    assert {(equipment_id, metric) for equipment_id, metric, *_ in series} == expected
    assert {tuple(row[2:]) for row in series} == {(360, "2026-08-25 00:00:00", "2026-11-22 18:00:00", 360)}
    assert set(column(db, "SELECT DISTINCT strftime('%H:%M:%S', recorded_at) FROM sensor_readings")) == {
        "00:00:00",
        "06:00:00",
        "12:00:00",
        "18:00:00",
    }


@pytest.mark.parametrize(
    ("kind", "metric", "low", "high"),
    [
        ("pump", "temperature_c", 25, 75),
        ("pump", "vibration_mm_s", 0.5, 8),
        ("pump", "pressure_bar", 2, 10),
        ("compressor", "temperature_c", 60, 100),
        ("compressor", "pressure_bar", 5, 11),
        ("motor", "current_a", 5, 200),
        ("motor", "temperature_c", 35, 90),
        ("boiler", "temperature_c", 140, 230),
        ("boiler", "pressure_bar", 6, 16),
        ("chiller", "temperature_c", 3, 12),
    ],
)
def test_sensor_values_are_plausible(
    db: sqlite3.Connection, kind: str, metric: str, low: float, high: float
) -> None:
    sql = """SELECT AVG(r.value), MIN(r.value)
        FROM sensor_readings r JOIN equipment e ON e.id = r.equipment_id
        WHERE e.equipment_type = ? AND r.metric = ?"""
    average, minimum = db.execute(sql, (kind, metric)).fetchone()
    assert low <= average <= high
    assert minimum >= 0


def test_some_monitored_assets_show_a_rising_vibration_trend(db: sqlite3.Connection) -> None:
    sql = """SELECT COUNT(*) FROM (SELECT equipment_id,
            AVG(CASE WHEN recorded_at >= '2026-11-16' THEN value END) AS last_week,
            AVG(CASE WHEN recorded_at < '2026-10-01' THEN value END) AS before
        FROM sensor_readings WHERE metric = 'vibration_mm_s' GROUP BY equipment_id)
        WHERE last_week > 1.5 * before"""
    assert scalar(db, sql) >= 5


# ------------------------------------------------------------------------------------------------
# Dates and the as-of date
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "name", "recent"),
    [
        ("work_orders", "created_at", "2026-11-22"),
        ("work_orders", "started_at", "2026-11-22"),
        ("work_orders", "completed_at", "2026-11-22"),
        ("sensor_readings", "recorded_at", "2026-11-22 18:00:00"),
        ("maintenance_plans", "last_performed", "2026-11-15"),
        ("equipment", "install_date", "2026-01-01"),
    ],
)
def test_nothing_happens_on_or_after_the_as_of_date(
    db: sqlite3.Connection, table: str, name: str, recent: str
) -> None:
    latest = scalar(db, f"SELECT MAX({name}) FROM {table}")
    assert recent <= latest < CUTOFF


def test_due_dates_may_lie_after_the_as_of_date(db: sqlite3.Connection) -> None:
    assert scalar(db, "SELECT MAX(next_due) FROM maintenance_plans") > str(AS_OF)
    assert scalar(db, "SELECT MAX(due_date) FROM work_orders") > str(AS_OF)


async def test_another_as_of_date_moves_every_date(tmp_path: Path) -> None:
    path = tmp_path / "early.sqlite3"
    await write_demo_database(str(path), seed=SEED, as_of=datetime.date(2025, 3, 2), scale=0.2)
    connection = sqlite3.connect(path)
    try:
        for table, name in [
            ("work_orders", "created_at"),
            ("work_orders", "started_at"),
            ("work_orders", "completed_at"),
            ("maintenance_plans", "last_performed"),
            ("equipment", "install_date"),
        ]:
            assert scalar(connection, f"SELECT MAX({name}) FROM {table}") < "2025-03-02 00:00:00", name
        assert scalar(connection, "SELECT MIN(created_at) FROM work_orders") >= "2022-03-03"
        readings = connection.execute(
            "SELECT MIN(recorded_at), MAX(recorded_at) FROM sensor_readings"
        ).fetchone()
        assert readings == ("2024-12-02 00:00:00", "2025-03-01 18:00:00")
        # "This month" already has finished work on the 2nd: everything done on the 1st.
        assert scalar(connection, "SELECT COUNT(*) FROM work_orders WHERE completed_at >= '2025-03-01'") > 0
    finally:
        connection.close()


# ------------------------------------------------------------------------------------------------
# Determinism and scale
# ------------------------------------------------------------------------------------------------


async def test_same_seed_and_as_of_write_the_same_database(demo_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.sqlite3"
    await write_demo_database(str(again), seed=SEED, as_of=AS_OF)
    assert dump_digest(again) == dump_digest(demo_path)
    assert file_digest(again) == file_digest(demo_path), "byte for byte, as DEMO_DATA.md promises"


def test_a_different_seed_gives_different_rows() -> None:
    first = generate(seed=SEED, as_of=AS_OF, scale=0.2)
    second = generate(seed=SEED + 1, as_of=AS_OF, scale=0.2)
    assert first.sites == second.sites
    for table in ("equipment", "technicians", "maintenance_plans", "work_orders", "sensor_readings"):
        assert getattr(first, table) != getattr(second, table), table


def test_generate_is_repeatable_in_process() -> None:
    assert generate(seed=3, as_of=AS_OF, scale=0.1) == generate(seed=3, as_of=AS_OF, scale=0.1)


def test_half_scale_roughly_halves_every_volume_but_sites(db: sqlite3.Connection) -> None:
    half = generate(seed=SEED, as_of=AS_OF, scale=0.5).counts()
    assert half["sites"] == 5
    for table in ALL_TABLES[1:]:
        full = scalar(db, f"SELECT COUNT(*) FROM {table}")
        assert 0.4 <= half[table] / full <= 0.6, table


@pytest.mark.parametrize("scale", [0, -1, 41])
def test_out_of_range_scale_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate(as_of=AS_OF, scale=scale)


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith((".tmp", "-journal", "-wal")))


async def test_writing_replaces_the_file_atomically(tmp_path: Path) -> None:
    target = tmp_path / "demo.sqlite3"
    counts = await write_demo_database(f"sqlite:///{target}", seed=1, as_of=AS_OF, scale=0.05)
    assert leftovers(tmp_path) == []
    with sqlite3.connect(target) as connection:
        assert {table: scalar(connection, f"SELECT COUNT(*) FROM {table}") for table in ALL_TABLES} == counts
    connection.close()
    # Writing over an existing database replaces it whole.
    again = await write_demo_database(f"sqlite+aiosqlite:///{target}", seed=2, as_of=AS_OF, scale=0.1)
    assert again["work_orders"] > counts["work_orders"]
    with sqlite3.connect(target) as connection:
        assert scalar(connection, "SELECT COUNT(*) FROM work_orders") == again["work_orders"]
    connection.close()


async def test_a_failed_write_keeps_the_previous_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "demo.sqlite3"
    await write_demo_database(str(target), seed=1, as_of=AS_OF, scale=0.05)
    before = dump_digest(target)

    def broken(**kwargs: Any) -> DemoRows:
        rows = generate(**kwargs)
        rows.sensor_readings[-1]["value"] = None  # NOT NULL violation in the last, biggest table
        return rows

    monkeypatch.setattr(demo_data, "generate", broken)
    with pytest.raises(IntegrityError):
        await write_demo_database(str(target), seed=2, as_of=AS_OF, scale=0.05)
    assert dump_digest(target) == before
    assert leftovers(tmp_path) == []


async def test_ensure_demo_database_writes_only_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "demo.sqlite3"
    assert await ensure_demo_database(path, seed=5, scale=0.05) is True
    written = path.stat().st_mtime_ns
    assert await ensure_demo_database(path, seed=5, scale=0.05) is False
    assert path.stat().st_mtime_ns == written
    today = datetime.datetime.now(datetime.UTC).date()
    with sqlite3.connect(path) as connection:
        assert scalar(connection, "SELECT MAX(created_at) FROM work_orders") < str(today)
    connection.close()


async def connect_postgres(database: str) -> Any:
    """A connection to one database of the test server (callers depend on the `postgres_dsn` fixture)."""
    return await asyncpg.connect(f"{PG_SERVER}/{database}", timeout=5)


@pytest.mark.postgres
async def test_writes_to_postgresql_and_rewrites_over_existing_tables(postgres_dsn: str) -> None:
    database = f"maintbot_test_demo_{uuid.uuid4().hex[:8]}"
    admin = await connect_postgres("test")
    await admin.execute(f"CREATE DATABASE {database}")
    try:
        url = f"{PG_SERVER}/{database}"
        first = await write_demo_database(url, seed=SEED, as_of=AS_OF, scale=0.05)
        second = await write_demo_database(url, seed=SEED, as_of=AS_OF, scale=0.05)
        assert first == second
        conn = await connect_postgres(database)
        try:
            for table, count in second.items():
                assert await conn.fetchval(f"SELECT COUNT(*) FROM {table}") == count, table
            mismatched = await conn.fetchval(
                "SELECT COUNT(*) FROM work_orders w JOIN technicians t ON t.id = w.technician_id"
                " WHERE w.status = 'completed' AND w.labor_cost <> w.labor_hours * t.hourly_rate"
            )
            assert mismatched == 0  # quarter-hour and quarter-dollar values stay exact even in REAL
            latest = await conn.fetchval("SELECT MAX(recorded_at) FROM sensor_readings")
            assert latest == datetime.datetime(2026, 11, 22, 18)
        finally:
            await conn.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await admin.close()
