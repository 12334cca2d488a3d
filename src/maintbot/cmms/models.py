"""SQLAlchemy models of the CMMS tables, exactly as declared in the shared ``schema.sql`` contract.

``metadata.create_all`` produces the same tables, columns, declared types, NOT NULL flags, keys and
foreign keys as ``schema.sql`` on SQLite and PostgreSQL, plus the secondary indexes that the analytic
questions need.  Ids are plain ``INTEGER PRIMARY KEY`` columns (no SERIAL on PostgreSQL, no NOT NULL
clause on SQLite), because that is what the contract declares: rows always carry their ids.
"""

import datetime
from collections.abc import Callable
from typing import Any, ClassVar, Final

from sqlalchemy import (
    BOOLEAN,
    DATE,
    INTEGER,
    REAL,
    TEXT,
    TIMESTAMP,
    ForeignKey,
    Index,
    MetaData,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine


class _SQLiteSecondsTimestamp(sqlite.DATETIME):
    """SQLite storage of TIMESTAMP as 'YYYY-MM-DD HH:MM:SS' text, still declared as TIMESTAMP.

    SQLAlchemy's SQLite DATETIME stores microseconds and declares the column DATETIME; the contract
    wants whole seconds (so string comparison and ``date()`` work) and the declared type TIMESTAMP.
    """

    # Compile the DDL type name with the generic TIMESTAMP visitor instead of DATETIME.
    __visit_name__ = "TIMESTAMP"
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str | None]:
        """Format values as 'YYYY-MM-DD HH:MM:SS', like the storage format, but with C-speed isoformat."""

        def process(value: Any) -> str | None:
            if value is None:
                return None
            if isinstance(value, datetime.datetime):
                # Time zones are dropped, not converted, as SQLAlchemy's own SQLite storage format does.
                naive = value if value.tzinfo is None else value.replace(tzinfo=None)
                return naive.isoformat(" ", "seconds")
            if isinstance(value, datetime.date):
                return f"{value.isoformat()} 00:00:00"
            raise TypeError(f"TIMESTAMP columns take datetime or date values, not {type(value).__name__}")

        return process


_TIMESTAMP: Final[TypeEngine[datetime.datetime]] = TIMESTAMP().with_variant(
    # SQLAlchemy's SQLite types are unannotated, hence the ignore.
    _SQLiteSecondsTimestamp(truncate_microseconds=True),  # type: ignore[no-untyped-call]
    "sqlite",
)


class Base(DeclarativeBase):
    """Declarative base of the CMMS models; its ``metadata`` holds the 8 contract tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        int: INTEGER(),
        str: TEXT(),
        float: REAL(),
        bool: BOOLEAN(),
        datetime.date: DATE(),
        datetime.datetime: _TIMESTAMP,
    }


def _id_column() -> Mapped[int]:
    # nullable=True only drops the redundant NOT NULL clause so SQLite's PRAGMA table_info matches
    # schema.sql; the column stays the rowid alias, and PostgreSQL makes primary keys NOT NULL anyway.
    return mapped_column(primary_key=True, nullable=True, autoincrement=False)


class Site(Base):
    """A plant; questions name sites by name, city or code."""

    __tablename__ = "sites"

    id: Mapped[int] = _id_column()
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(unique=True)
    city: Mapped[str]
    country: Mapped[str]


class Equipment(Base):
    """A maintained asset (pump, compressor, ...) at one site."""

    __tablename__ = "equipment"

    id: Mapped[int] = _id_column()
    tag: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    equipment_type: Mapped[str]
    manufacturer: Mapped[str]
    model: Mapped[str]
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    area: Mapped[str]
    criticality: Mapped[str]
    status: Mapped[str]
    install_date: Mapped[datetime.date]
    purchase_cost: Mapped[float]

    __table_args__ = (Index("ix_equipment_site_id", "site_id"),)


class Technician(Base):
    """A maintenance technician working at one site."""

    __tablename__ = "technicians"

    id: Mapped[int] = _id_column()
    name: Mapped[str]
    specialty: Mapped[str]
    shift: Mapped[str]
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    hourly_rate: Mapped[float]
    active: Mapped[bool]

    __table_args__ = (Index("ix_technicians_site_id", "site_id"),)


class MaintenancePlan(Base):
    """A recurring preventive task on one piece of equipment."""

    __tablename__ = "maintenance_plans"

    id: Mapped[int] = _id_column()
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"))
    task: Mapped[str]
    frequency_days: Mapped[int]
    last_performed: Mapped[datetime.date | None]
    next_due: Mapped[datetime.date]
    estimated_hours: Mapped[float]
    active: Mapped[bool]

    __table_args__ = (
        Index("ix_maintenance_plans_active_next_due", "active", "next_due"),
        Index("ix_maintenance_plans_equipment_id", "equipment_id"),
    )


class WorkOrder(Base):
    """A maintenance job: preventive, corrective, predictive or inspection."""

    __tablename__ = "work_orders"

    id: Mapped[int] = _id_column()
    code: Mapped[str] = mapped_column(unique=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("maintenance_plans.id"))
    type: Mapped[str]
    priority: Mapped[str]
    status: Mapped[str]
    title: Mapped[str]
    failure_mode: Mapped[str | None]
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("technicians.id"))
    created_at: Mapped[datetime.datetime]
    due_date: Mapped[datetime.date]
    started_at: Mapped[datetime.datetime | None]
    completed_at: Mapped[datetime.datetime | None]
    labor_hours: Mapped[float | None]
    downtime_hours: Mapped[float | None]
    labor_cost: Mapped[float | None]
    parts_cost: Mapped[float | None]

    __table_args__ = (
        Index("ix_work_orders_status", "status"),
        Index("ix_work_orders_type_created_at", "type", "created_at"),
        Index("ix_work_orders_created_at", "created_at"),
        Index("ix_work_orders_completed_at", "completed_at"),
        Index("ix_work_orders_equipment_id", "equipment_id"),
        Index("ix_work_orders_technician_id", "technician_id"),
        Index("ix_work_orders_plan_id", "plan_id"),
    )


class SparePart(Base):
    """A stocked spare part at one site."""

    __tablename__ = "spare_parts"

    id: Mapped[int] = _id_column()
    part_number: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    category: Mapped[str]
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    quantity_on_hand: Mapped[int]
    reorder_point: Mapped[int]
    unit_cost: Mapped[float]
    supplier: Mapped[str]

    __table_args__ = (Index("ix_spare_parts_site_id", "site_id"),)


class WorkOrderPart(Base):
    """A spare part consumed by a work order (composite primary key)."""

    __tablename__ = "work_order_parts"

    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("spare_parts.id"), primary_key=True)
    quantity: Mapped[int]

    __table_args__ = (Index("ix_work_order_parts_part_id", "part_id"),)


class SensorReading(Base):
    """One condition-monitoring reading of one metric on one piece of equipment."""

    __tablename__ = "sensor_readings"

    id: Mapped[int] = _id_column()
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"))
    metric: Mapped[str]
    recorded_at: Mapped[datetime.datetime]
    value: Mapped[float]

    __table_args__ = (
        Index("ix_sensor_readings_equipment_metric_recorded_at", "equipment_id", "metric", "recorded_at"),
        Index("ix_sensor_readings_metric_recorded_at", "metric", "recorded_at"),
    )


metadata: Final[MetaData] = Base.metadata


def known_columns() -> dict[str, frozenset[str]]:
    """Return each CMMS table's column names, so the SQL guard can reject unknown tables and columns."""
    return {
        table_name: frozenset(column.name for column in table.columns)
        for table_name, table in metadata.tables.items()
    }
