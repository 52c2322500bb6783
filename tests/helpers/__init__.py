"""Helpers shared by the tests: test data, ports, servers (TAK, PostgreSQL), models, builders."""
