"""The maintenance (CMMS) database: its SQLAlchemy models and the deterministic demo data generator."""
