#!/usr/bin/env python3
"""Writes an MBTiles file for the browser tests (lib.mjs writeMbtiles).

Usage: make-mbtiles.py OUT.mbtiles < {"metadata": {name: value}, "tiles": [{"z", "x", "y", "data" (base64)}]}
The tiles' y is the XYZ row; MBTiles stores TMS rows (2^z - 1 - y).
"""
import base64
import json
import sqlite3
import sys

spec = json.load(sys.stdin)
db = sqlite3.connect(sys.argv[1])
db.executescript(
    "CREATE TABLE metadata (name TEXT, value TEXT);"
    "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);"
    "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);"
)
db.executemany("INSERT INTO metadata VALUES (?, ?)", [(k, str(v)) for k, v in spec["metadata"].items()])
db.executemany(
    "INSERT INTO tiles VALUES (?, ?, ?, ?)",
    [(t["z"], t["x"], (1 << t["z"]) - 1 - t["y"], base64.b64decode(t["data"])) for t in spec["tiles"]],
)
db.commit()
db.close()
