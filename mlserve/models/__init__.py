"""The model store tool: `python -m mlserve.models package|publish|list|show` (see __main__)."""
