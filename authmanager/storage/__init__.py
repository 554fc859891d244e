"""Storage: SQLAlchemy 2 typed models and one small repository module per aggregate.

SQLite and PostgreSQL share every code path; only the database URL differs.
"""
