"""The PostgreSQL tier's server (issue 18): a throwaway cluster per run, on a Unix socket only; skipped
where PostgreSQL is not installed. The PostgreSQL catalog store's conformance runs will use it."""

from __future__ import annotations

from tests.postgres_server import PostgresServer


def test_a_throwaway_cluster_answers_on_its_socket_alone(postgres_server: PostgresServer) -> None:
    postgres = postgres_server
    assert int(postgres.psql("SHOW server_version_num")) >= 130000
    assert postgres.psql("SHOW listen_addresses") == ""  # no TCP port: nothing reachable from outside
    postgres.psql("CREATE TABLE probe (id int PRIMARY KEY, name text NOT NULL)")
    postgres.psql("INSERT INTO probe VALUES (1, 'juggernaut')")
    assert postgres.psql("SELECT name FROM probe WHERE id = 1") == "juggernaut"
    assert str(postgres.socket_dir) in postgres.dsn
