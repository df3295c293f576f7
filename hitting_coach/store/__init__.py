"""Store: what was received, kept on disk.

``layout`` names the files, ``recorder`` writes the journal and the Parquet sessions,
``sessions`` lists and loads them, ``takes`` keeps named takes, ``exports`` reads and writes
Sensor Logger's file exports. No plotting here.
"""
