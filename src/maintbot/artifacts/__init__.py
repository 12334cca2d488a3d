"""Charts and exports of data answers: planned with the answer, made in the background, served by id.

- `charts`: which chart a result's shape calls for (or whether a suggested one is allowed), as a spec;
- `labels`: human names, units and value labels for result columns, from the domain description;
- `plan`: the artifacts of one answer (ids, kinds, files, chart spec), before anything is drawn;
- `render`: drawing and writing the files, in worker processes (matplotlib, csv, openpyxl);
- `store`: where files live, and the only way from an id to a path;
- `repository`: every query on the `artifacts` table;
- `jobs`: the bounded render pool, start after commit, recovery and retention;
- `service`: what the HTTP routes read.
"""
