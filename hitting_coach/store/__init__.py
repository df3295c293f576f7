"""Store: what was received, kept on disk.

``layout`` names the files; ``recorder`` coordinates the recording: ``journal`` (every
message as a JSON line, fsynced, checkpointed), ``parts`` (journal lines into Parquet parts,
compaction), ``recovery`` (what a crash left, recent keys), ``retention`` (journal files
removed once verified in Parquet); ``sessions`` lists and loads sessions, ``takes`` keeps
named takes, ``exports`` reads and writes Sensor Logger's file exports. No plotting here.
"""
