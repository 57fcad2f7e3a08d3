"""The stack: its settings (`settings/`, read from `Pulumi.<stack>.yaml`), the component Args built
from them (`args/`, one module per component) and the net that builds them all before anything is
declared (`rules.py`). `__main__.py` uses this package and nothing else of `mlserve/`."""
