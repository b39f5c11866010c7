"""`keras-wht bench`: the paper's speed test and its neighbours, layer by layer
(`layers`) and for whole networks (`models`), on every execution path; the report
(terminal table, JSON, Markdown, PNG plots) in `report`."""
