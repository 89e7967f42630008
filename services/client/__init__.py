"""`dbaas db|ops|engines|login|completion`: the command-line client of the REST API.

A separate program from the server commands that share the `dbaas` entry point: it talks
HTTP to the API only (httpx), and imports nothing of the server (no kubernetes, psycopg, rq
or starlette), so a command starts in well under 300 ms. Its configuration is its own
(`config`), not the server's `Settings`.
"""
